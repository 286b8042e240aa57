"""Runs compared (issue 34 point 1): two real runs that differ in learning rate only are
compared — `differs` names the learning rate and not the network; `desktop-ft runs
--compare` prints the same object as JSON and writes a self-contained page; a run of
before the resolved settings were recorded is still compared; a note round-trips
through run.json and a running run's note is refused."""

import json
import os
import re

import pytest

from desktop_ft.cli import main
from desktop_ft.core.errors import UserError

pytestmark = pytest.mark.usefixtures("narrow_vgg16")


def train_two_runs(image_folder, root) -> list[str]:
    """Two tiny runs (narrow VGG16 at 32 px, the head only, 2 epochs) at lr 1e-3 and
    1e-2; their run folders."""
    from desktop_ft.core.models import ModelSpec
    from desktop_ft.core.training import TrainJob, fine_tune

    paths = []
    for lr in (1e-3, 1e-2):
        job = TrainJob(model=ModelSpec("vgg16", weights="none", image_size=32),
                       data=str(image_folder), epochs=2, batch_size=8, strategy="head",
                       lr=lr, keep_runs=0, max_runs_gb=0)
        paths.append(fine_tune(job, run_dir=root).run_path)
    return paths


@pytest.fixture(scope="module")
def two_runs(image_folder, tmp_path_factory):
    return train_two_runs(image_folder, tmp_path_factory.mktemp("compared"))


def test_two_runs_differ_in_learning_rate_not_network(two_runs):
    from desktop_ft.core.training.compare import compare_runs

    comparison = compare_runs(two_runs)
    assert "learning_rate" in comparison["differs"]
    for same in ("architecture", "weights", "strategy", "trainable_params", "epochs",
                 "data", "split", "augmentation"):
        assert same not in comparison["differs"], same
    a, b = comparison["runs"]
    assert (a["settings"]["learning_rate"], b["settings"]["learning_rate"]) == (1e-3, 1e-2)
    assert a["settings"]["trainable_params"] > 0     # resolved, kept in run.json
    for r in (a, b):
        assert len(r["curves"]["val_loss"]) == 2 and len(r["curves"]["val_accuracy"]) == 2
        assert r["final"]["val_loss"] == r["curves"]["val_loss"][-1]
        assert r["best"]["epoch"] in (1, 2)
        assert r["best"]["val_loss"] == min(r["curves"]["val_loss"])
    assert a["curves"]["val_loss"] != b["curves"]["val_loss"]


def test_cli_compare_json_and_html(two_runs, tmp_path, capsys):
    page = tmp_path / "compare.html"
    assert main(["runs", "--compare", *two_runs, "--json", "--html", str(page)]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(out) == {"runs", "differs"} and len(out["runs"]) == 2
    assert "learning_rate" in out["differs"] and "architecture" not in out["differs"]
    assert {"settings", "curves", "final", "best", "note"} <= set(out["runs"][0])
    html = page.read_text()
    assert html.count("<polyline") >= 4          # two runs × (loss, accuracy) at least
    assert "Learning rate" in html and "Network</th>" not in html
    # Self-contained: nothing fetched from elsewhere.
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", html)
    # By name under --run-dir, as the text table.
    root = os.path.dirname(two_runs[0])
    assert main(["runs", "--run-dir", root, "--compare",
                 *(os.path.basename(p) for p in two_runs)]) == 0
    text = capsys.readouterr().out
    assert "Learning rate" in text and "0.001" in text and "0.01" in text
    # --html alone has nothing to write: refused, not ignored.
    assert main(["runs", "--html", str(tmp_path / "alone.html")]) != 0
    assert "--compare" in capsys.readouterr().err and not (tmp_path / "alone.html").exists()


def test_old_run_json_is_compared(two_runs, tmp_path):
    """A run.json written before ``settings`` and ``evaluation`` were recorded."""
    import shutil

    from desktop_ft.core.training.compare import compare_runs

    old = tmp_path / "old-run"
    shutil.copytree(two_runs[0], old, ignore=shutil.ignore_patterns("checkpoints"))
    record = json.loads((old / "run.json").read_text())
    for key in ("settings", "evaluation", "note"):
        record.pop(key, None)
    (old / "run.json").write_text(json.dumps(record))
    comparison = compare_runs([old, two_runs[1]])
    old_run = comparison["runs"][0]
    assert old_run["settings"]["learning_rate"] == 1e-3      # the job's --lr
    assert old_run["settings"]["trainable_params"] is None and old_run["note"] == ""
    assert "learning_rate" in comparison["differs"]
    with pytest.raises(UserError, match="two or more"):
        compare_runs([old])


def test_note_round_trips_and_a_running_run_is_refused(two_runs, capsys):
    from desktop_ft.core.training.runs import Run, set_note

    assert main(["runs", "--note", two_runs[0], "  lr 1e-3: slower, steadier  "]) == 0
    assert json.loads(open(f"{two_runs[0]}/run.json").read())["note"] == \
        "lr 1e-3: slower, steadier"
    assert Run.open(two_runs[0]).summary(sizes=False)["note"] == "lr 1e-3: slower, steadier"
    # A live writer's run.json is its own: the note waits until it stops.
    record_file = f"{two_runs[1]}/run.json"
    record = json.loads(open(record_file).read())
    live = {**record, "status": "running", "pid": os.getpid()}
    open(record_file, "w").write(json.dumps(live))
    try:
        with pytest.raises(UserError, match="still training"):
            set_note(two_runs[1], "x")
        assert json.loads(open(record_file).read()) == live
    finally:
        open(record_file, "w").write(json.dumps(record))
    set_note(two_runs[0], "")
    assert Run.open(two_runs[0]).record["note"] == ""
