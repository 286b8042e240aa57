"""The window's Cancel (issue 34 point 3): an export (of the session's model, or from a
run), a scan and a LoRA/int8 preparation each show Cancel in the status bar; a cancelled
one ends saying "Cancelled" (no error banner), applies nothing, and leaves the window
usable — the previous export, the scan and the model as they were."""

import threading
from types import SimpleNamespace

import numpy as np
import pytest

from tests.gui.conftest import LONG, click, drop_path, load_model

pytestmark = pytest.mark.usefixtures("narrow_vgg16")


def cancel_when_shown(qtbot, w):
    """Press the status bar's Cancel once a cancellable task shows it; wait for the end."""
    qtbot.waitUntil(lambda: w.cancel_button.isVisible(), timeout=LONG)
    click(qtbot, w.cancel_button)
    qtbot.waitUntil(lambda: w.controller.tasks.running() == 0, timeout=LONG)


def assert_cancelled_quietly(w):
    assert "Cancelled" in w.statusBar().currentMessage()
    assert not w.banner.isVisible()
    assert not w.cancel_button.isVisible()


def test_the_runner_cancels_only_cancellable_tasks(qtbot):
    """Cancel is the runner's, for any task whose spec says ``cancellable``: its failure
    after a cancel is reported as cancelled, not as an error; other tasks run on."""
    from desktop_ft.core.errors import UserError
    from desktop_ft.gui.task_runner import STOP, TaskRunner, TaskSpec

    runner = TaskRunner()
    errors, cancelled = [], []
    runner.error.connect(lambda message, details: errors.append(message))
    runner.cancelled.connect(lambda name, label: cancelled.append((name, label)))

    def job(stop):
        if not stop.wait(20):
            return "finished"
        raise UserError("stopped")

    search = runner.run(TaskSpec("search", "Searching…", cancellable=True), job, STOP)
    other = runner.run(TaskSpec("train", "Training…"), job, STOP)
    assert runner.cancellable_tasks() == [search]
    runner.cancel_tasks()
    qtbot.waitUntil(lambda: runner.running() == 1, timeout=10_000)
    assert cancelled == [("search", "Searching…")] and errors == []
    assert not other.cancelled
    runner.cancel_all()
    qtbot.waitUntil(lambda: runner.running() == 0, timeout=10_000)
    assert errors == ["stopped"]        # a task without Cancel still reports its error


def test_cancel_a_scan(qtbot, window, tmp_path, monkeypatch):
    from desktop_ft.core.data import folders

    w, c = window, window.controller
    for name in ("a", "b"):
        (tmp_path / "data" / name).mkdir(parents=True)
        for i in range(300):
            (tmp_path / "data" / name / f"{i}.txt").write_text(f"text {i}")
    stop, reads, real = threading.Event(), [], folders.read_text

    def slow_read(path):      # a slow disk: the scan lasts until Cancel
        reads.append(path)
        stop.wait(0.05)
        return real(path)

    monkeypatch.setattr(folders, "read_text", slow_read)
    drop_path(w, tmp_path / "data")
    cancel_when_shown(qtbot, w)
    stop.set()
    assert c.scan is None and len(reads) < 300
    assert_cancelled_quietly(w)


@pytest.fixture
def vgg():
    from desktop_ft.core.models import ModelSpec, load_model

    bundle = load_model(ModelSpec("vgg16", weights="none", image_size=32, num_classes=2))
    bundle.classes = ["a", "b"]
    return bundle


@pytest.fixture
def previous_export(vgg, tmp_path):
    from desktop_ft.core.export import export_model

    out = tmp_path / "out" / "OUT"
    export_model(vgg, out, ["a", "b"], formats=["keras"])
    return out, (out / "export.json").read_bytes()


@pytest.fixture
def held_writer(monkeypatch):
    """The Keras writer writes, then waits for the task's cancel (a long export)."""
    from desktop_ft.core.export import writers

    real = writers.KerasWriter.write

    def write_then_wait(self, ctx):
        real(self, ctx)
        ctx.job.stop.wait(60)

    monkeypatch.setattr(writers.KerasWriter, "write", write_then_wait)


@pytest.mark.parametrize("source", ["session", "run"])
def test_cancel_an_export(qtbot, window, vgg, previous_export, held_writer, monkeypatch,
                          source):
    from desktop_ft.core.export import reexport

    w, c = window, window.controller
    out, record = previous_export
    retries = []
    c.exportFailedWithRun.connect(lambda *args: retries.append(args))
    if source == "session":      # a trained model (its result: what export reads)
        c.bundle = vgg
        c.result = SimpleNamespace(parity_samples=lambda n=4: [], export_info=lambda: {},
                                   validation_inputs=lambda: None, run_path=str(out))
        assert c.export(str(out), ["keras"])
    else:                         # Runs dialog → Export
        monkeypatch.setattr(reexport, "source_for_reexport", lambda run, observer: (
            SimpleNamespace(bundle=vgg, samples=[], info={}, representative=None,
                            validation=None, after_export=lambda record: None)))
        c.export_run("a-run-folder", str(out), ["keras"])
    cancel_when_shown(qtbot, w)
    assert (out / "export.json").read_bytes() == record
    assert sorted(p.name for p in out.parent.iterdir()) == ["OUT"]     # no stage, no tmp
    assert w.try_panel.export_label.text().startswith("Export cancelled")
    assert not retries           # nothing failed: no "Export again from the run"
    assert_cancelled_quietly(w)


def test_cancel_lora_preparation(qtbot, window, tiny_bert_preset, text_csv, monkeypatch):
    """A cancel that arrives while the adapters are added (one Keras call, which cannot
    be interrupted): the model is put back as it was, the tree too."""
    from desktop_ft.gui import worker_functions as work

    w, c = window, window.controller
    drop_path(w, text_csv)
    qtbot.waitUntil(lambda: c.scan is not None, timeout=LONG)
    bundle = load_model(qtbot, w, architecture="bert", preset=str(tiny_bert_preset),
                        seq_len=16)
    before = ([v.copy() for v in bundle.model.get_weights()], bundle.tree.states(),
              bundle.tree.strategy)
    held = {}
    real_prepare, real_lora = work.prepare_strategy, type(bundle.modality).add_lora

    def prepare(bundle, key, unfreeze_last, lora_rank, observer, stop):
        held["stop"] = stop
        return real_prepare(bundle, key, unfreeze_last, lora_rank, observer, stop)

    def add_lora_then_wait(modality, bundle, rank):
        real_lora(modality, bundle, rank)
        held["stop"].wait(60)

    monkeypatch.setattr(work, "prepare_strategy", prepare)
    monkeypatch.setattr(type(bundle.modality), "add_lora", add_lora_then_wait)
    click(qtbot, w.layers_panel.buttons["lora"])
    cancel_when_shown(qtbot, w)
    assert c.bundle is bundle and not bundle.tree.has_lora
    assert bundle.peft()["lora_rank"] is None
    weights = bundle.model.get_weights()
    assert len(weights) == len(before[0])
    assert all(np.array_equal(a, b) for a, b in zip(weights, before[0]))
    assert (bundle.tree.states(), bundle.tree.strategy) == before[1:]
    assert w.layers_panel.tree_model._tree is bundle.tree     # the panel shows it again
    assert_cancelled_quietly(w)
    assert w.layers_panel.buttons["lora"].isEnabled()        # usable again


def test_a_scan_cancelled_after_its_last_file_is_not_applied(tmp_path, monkeypatch):
    from desktop_ft.core import data
    from desktop_ft.gui import worker_functions as work

    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "1.txt").write_text("text")
    stop, real = threading.Event(), data.scan

    def scan_then_cancel(*args, **kwargs):
        result = real(*args, **kwargs)
        stop.set()
        return result

    monkeypatch.setattr(data, "scan", scan_then_cancel)
    with pytest.raises(data.ScanCancelled):
        work.scan_data(str(tmp_path), stop)


def test_cancel_the_suspect_label_search(qtbot, window, image_folder, monkeypatch):
    """Cancel during the first fold: no suspects shown, the model's weights as before."""
    from desktop_ft.core.training import label_issues

    from tests.gui.conftest import load_tiny_vgg_with_data

    w, c = window, window.controller
    load_tiny_vgg_with_data(qtbot, w, image_folder)
    w.train_panel.set_options({**w.train_panel.options(), "epochs": 1})
    before = [v.copy() for v in c.bundle.model.get_weights()]
    real = label_issues._each_fold

    def each_fold(model, fold_of, context, train_and_predict):
        stop = context[2]

        def fold_then_wait(held):
            out = list(train_and_predict(held))
            stop.wait(60)          # a long search: Cancel comes during it
            return out
        return real(model, fold_of, context, fold_then_wait)

    monkeypatch.setattr(label_issues, "_each_fold", each_fold)
    found = []
    c.suspectsReady.connect(found.append)
    click(qtbot, w.train_panel.mistakes.suspects.find)
    cancel_when_shown(qtbot, w)
    assert found == []
    weights = c.bundle.model.get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(weights, before))
    assert_cancelled_quietly(w)
