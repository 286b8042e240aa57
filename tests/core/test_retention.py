"""Runs retention: the runs folder keeps the last N finished runs and at most so many
bytes; the oldest finished (stopped, failed) runs go first, interrupted and running runs
are kept; applied when a run ends (``train --keep-runs``) and by ``runs --prune``."""

import json
import os
import socket
import subprocess
import sys

import pytest

from desktop_ft.cli import main
from desktop_ft.core.errors import UserError
from desktop_ft.core.training.retention import (describe, plan_prune, prune_runs,
                                                total_usage)
from desktop_ft.core.training.runs import RUN_VERSION, list_runs

MB = 1_000_000


def dead_pid() -> int:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    return gone.pid


def fake_run(root, name, status, created, size=MB):
    """A run folder as ``Run.create`` writes it, with a checkpoint padded to ``size``.
    ``interrupted``: recorded as running, by a process that is gone."""
    path = root / name
    (path / "checkpoints" / "last").mkdir(parents=True)
    (path / "checkpoints" / "last" / "weights.weights.h5").write_bytes(b"\0" * size)
    pid = dead_pid() if status == "interrupted" else os.getpid()
    record = {"desktop_ft_run": RUN_VERSION, "created": created,
              "status": "running" if status == "interrupted" else status, "pid": pid,
              "host": socket.gethostname(), "model": "vgg16",
              "job": {"epochs": 3, "data": "photos"}, "classes": ["a", "b"], "split": {},
              "tree": {}, "peft": None, "epochs_done": 1, "history": {}, "best": None,
              "error": None, "exports": []}
    (path / "run.json").write_text(json.dumps(record))
    return path


def runs_folder(root, statuses, size=MB):
    """Runs named run-00, run-01 … created a minute apart (run-00 oldest)."""
    root.mkdir(exist_ok=True)
    return [fake_run(root, f"run-{i:02d}", status, f"2024-05-01T10:{i:02d}:00", size)
            for i, status in enumerate(statuses)]


def names(root):
    return sorted(p.name for p in root.iterdir())


def test_count_cap_removes_the_oldest_finished_and_keeps_interrupted(tmp_path):
    root = tmp_path / "runs"
    runs_folder(root, ["finished", "interrupted", "stopped", "failed", "finished",
                       "running", "finished"])
    (root / "notes").mkdir()                      # not a run: never touched
    (root / "notes" / "keep.txt").write_text("mine")
    assert [r["status"] for r in list_runs(root)][:2] == ["finished", "running"]

    would = prune_runs(root, keep=2, max_bytes=None, dry_run=True)
    assert [r["name"] for r in would] == ["run-00", "run-02", "run-03"]
    assert len(names(root)) == 8                  # a dry run removes nothing
    removed = prune_runs(root, keep=2, max_bytes=None)
    assert [r["name"] for r in removed] == ["run-00", "run-02", "run-03"]
    assert all(r["bytes"] >= MB for r in removed)
    # The two newest finished, the interrupted one and the running one stay.
    assert names(root) == ["notes", "run-01", "run-04", "run-05", "run-06"]
    assert (root / "notes" / "keep.txt").read_text() == "mine"
    assert describe(removed, 2, None) == ("Removed 3 old runs (3.0 MB) to keep the last 2 "
                                          "finished runs.")
    assert prune_runs(root, keep=2, max_bytes=None) == []     # idempotent


def test_size_cap_counts_every_run_and_removes_only_finished_ones(tmp_path):
    root = tmp_path / "runs"
    runs_folder(root, ["finished", "finished", "interrupted", "finished", "finished"],
                size=3 * MB)
    assert total_usage(root) >= 15 * MB
    # 15 MB in all against a 7 MB cap: the three oldest finished runs go (the
    # interrupted one counts but is kept), leaving the newest finished one.
    removed = prune_runs(root, keep=20, max_bytes=7 * MB)
    assert [r["name"] for r in removed] == ["run-00", "run-01", "run-03"]
    assert names(root) == ["run-02", "run-04"]
    assert total_usage(root) <= 7 * MB


def test_whichever_cap_comes_first(tmp_path):
    root = tmp_path / "runs"
    runs_folder(root, ["finished"] * 5, size=2 * MB)
    assert [r["name"] for r in prune_runs(root, keep=4, max_bytes=100 * MB,
                                          dry_run=True)] == ["run-00"]
    assert [r["name"] for r in prune_runs(root, keep=4, max_bytes=5 * MB,
                                          dry_run=True)] == ["run-00", "run-01", "run-02"]


def test_keep_zero_keeps_every_run_and_the_just_finished_run_is_protected(tmp_path):
    root = tmp_path / "runs"
    paths = runs_folder(root, ["finished"] * 4, size=2 * MB)
    assert prune_runs(root, keep=0, max_bytes=1) == []
    assert len(names(root)) == 4
    # The run that just finished is never removed, even when it is the oldest (a
    # resumed run) and the caps would take it; it counts towards the kept runs.
    removed = prune_runs(root, keep=2, max_bytes=None, protect=(paths[0],))
    assert [r["name"] for r in removed] == ["run-01", "run-02"]
    assert names(root) == ["run-00", "run-03"]
    removed = prune_runs(root, keep=5, max_bytes=1, protect=(paths[0],))
    assert names(root) == ["run-00"] and [r["name"] for r in removed] == ["run-03"]


def test_plan_never_takes_running_or_interrupted_runs(tmp_path):
    runs = [{"name": f"r{i}", "path": str(tmp_path / f"r{i}"), "status": s,
             "created": f"2024-01-0{i + 1}T00:00:00", "bytes": 10 * MB}
            for i, s in enumerate(["running", "interrupted", "running", "interrupted"])]
    assert plan_prune(runs, keep=1, max_bytes=1) == []


def test_a_run_that_cannot_go_is_skipped_and_housekeeping_never_fails_training(
        tmp_path, monkeypatch):
    from desktop_ft.core.observer import Observer
    from desktop_ft.core.training import retention

    root = tmp_path / "runs"
    paths = runs_folder(root, ["finished"] * 3)
    doomed = plan_prune(list_runs(root), keep=1, max_bytes=None)
    # Between the plan and the removal, run-00 was resumed (its process is alive) and
    # another process removed run-01.
    record = json.loads((paths[0] / "run.json").read_text())
    (paths[0] / "run.json").write_text(json.dumps({**record, "status": "running"}))
    retention.remove_runs(doomed[1:])
    assert retention.remove_runs(doomed) == []
    assert names(root) == ["run-00", "run-02"]

    lines = []

    class Lines(Observer):
        def on_status(self, message):
            lines.append(message)

    def broken(*a, **k):
        raise PermissionError("read-only folder")

    monkeypatch.setattr(retention, "prune_runs", broken)
    assert retention.after_run(paths[2], 1, 10.0, Lines()) == []
    assert lines == ["Old runs were not pruned: read-only folder"]


def test_train_job_refuses_a_negative_cap():
    from desktop_ft.core.models import ModelSpec
    from desktop_ft.core.training import TrainJob

    job = TrainJob(model=ModelSpec("vgg16", weights="none", image_size=32), data="x")
    assert (job.keep_runs, job.max_runs_gb) == (20, 10.0)
    with pytest.raises(UserError, match="--keep-runs"):
        TrainJob(model=ModelSpec("vgg16", weights="none", image_size=32), data="x",
                 keep_runs=-1)


def test_runs_prune_and_total_on_the_command_line(tmp_path, capsys):
    root = tmp_path / "runs"
    runs_folder(root, ["finished", "interrupted", "finished", "stopped", "finished"])
    assert main(["runs", "--run-dir", str(root)]) == 0
    out = capsys.readouterr().out
    assert "Total: 5 runs, 5.0 MB" in out.splitlines()[-1]

    assert main(["runs", "--run-dir", str(root), "--prune", "--keep-runs", "2",
                 "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "Would remove 2 old runs (2.0 MB) to keep the last 2 finished runs" in out
    assert len(names(root)) == 5
    assert main(["runs", "--run-dir", str(root), "--prune", "--keep-runs", "2"]) == 0
    out = capsys.readouterr().out
    assert "Removed run-00" in out and "Removed run-02" in out
    assert "Removed 2 old runs (2.0 MB) to keep the last 2 finished runs and at most " \
           "10.0 GB." in out
    assert out.strip().splitlines()[-1] == f"Runs in {root} use 3.0 MB."
    assert names(root) == ["run-01", "run-03", "run-04"]
    # The size cap alone, as JSON.
    assert main(["runs", "--run-dir", str(root), "--prune", "--max-runs-gb", "0.0025",
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [r["name"] for r in report["removed"]] == ["run-03"]
    assert report["total_bytes"] <= 2.5 * MB and report["freed_bytes"] >= MB
    assert main(["runs", "--run-dir", str(root), "--prune"]) == 0
    assert "Nothing to remove" in capsys.readouterr().out
    assert main(["runs", "--run-dir", str(root), "--prune", "--keep-runs", "-1"]) == 1


def test_train_keep_runs_prunes_when_the_run_ends(image_folder, tmp_path, capsys):
    root = tmp_path / "runs"
    runs_folder(root, ["finished", "interrupted", "failed", "finished"])
    # (The head alone trains: what trains does not matter here, and it is the cheapest.)
    assert main(["train", "--model", "vgg16", "--weights", "none", "--image-size", "32",
                 "--strategy", "head", "--data", str(image_folder), "--epochs", "1",
                 "--batch-size", "8", "--run-dir", str(root), "--keep-runs", "2", "--export",
                 str(tmp_path / "out"), "--formats", "keras", "--json"]) == 0
    out, err = capsys.readouterr()     # (with --json, status lines go to stderr)
    assert "Removed 2 old runs" in err and "to keep the last 2 finished runs" in err
    summary = json.loads(out.strip().splitlines()[-1])
    new = os.path.basename(summary["run"])
    # The new run and the newest older finished one are the 2 kept; the interrupted
    # run stays for resuming.
    assert names(root) == sorted(["run-01", "run-03", new])
    # --keep-runs 0 keeps everything.
    assert main(["train", "--model", "vgg16", "--weights", "none", "--image-size", "32",
                 "--strategy", "head", "--data", str(image_folder), "--epochs", "1",
                 "--batch-size", "8", "--run-dir", str(root), "--keep-runs", "0", "--export",
                 str(tmp_path / "out2"), "--formats", "keras"]) == 0
    assert "old run" not in capsys.readouterr().out
    assert len(names(root)) == 4
