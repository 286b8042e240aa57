"""Reading a run (its checkpoint, an export from it) never changes a live writer's files:
the temporary folder a training process is writing its next checkpoint into, the version
it parked between its two renames, and its run.json all stay as they were."""

import json
import os

import numpy as np

from desktop_ft.cli import main
from desktop_ft.core.training.runs import Run


def live_run(root):
    """A run whose writer is this (live) process, with one finished checkpoint."""
    run = Run.create(root, job={"epochs": 3}, architecture="vgg16", classes=["a", "b"],
                     split={"train": None, "val": None}, tree={}, peft=None)
    last = run.path / "checkpoints" / "last"
    last.mkdir()
    np.savez(last / "variables.npz")
    (last / "state.json").write_text(json.dumps({"epoch": 1, "seed_states": []}))
    return run


def writers_temp(run, which="last"):
    """What a writer has half-written beside ``checkpoints/<which>``."""
    tmp = run.path / "checkpoints" / f".{which}.tmp-0123abcd"
    tmp.mkdir()
    (tmp / "variables.npz").write_bytes(b"half")
    return tmp


def test_reading_a_checkpoint_leaves_the_writers_temporary_folder(tmp_path):
    run = live_run(tmp_path)
    assert Run.open(run.path).status == "running"
    tmp = writers_temp(run)
    reader = Run.open(run.path)
    assert reader.checkpoints.load_state("last")["epoch"] == 1
    assert reader.checkpoints.directory("last") == run.path / "checkpoints" / "last"
    assert (tmp / "variables.npz").read_bytes() == b"half"


def test_reading_between_the_writers_renames_reads_the_parked_version(tmp_path):
    run = live_run(tmp_path)
    last = run.path / "checkpoints" / "last"
    parked = last.with_name(".last.old-0123abcd")
    os.replace(last, parked)            # the writer's first rename; its second is next
    tmp = writers_temp(run)
    assert Run.open(run.path).checkpoints.load_state("last")["epoch"] == 1
    assert parked.is_dir() and not last.exists() and tmp.is_dir()


def test_exporting_a_running_run_leaves_its_files(image_folder, tmp_path, capsys):
    runs = tmp_path / "runs"
    assert main(["train", "--model", "vgg16", "--weights", "none", "--image-size", "32",
                 "--strategy", "head", "--data", str(image_folder), "--epochs", "1",
                 "--batch-size", "8", "--run-dir", str(runs), "--export",
                 str(tmp_path / "first"), "--formats", "keras", "--json"]) == 0
    [path] = [p for p in runs.iterdir() if (p / "run.json").is_file()]
    record = json.loads((path / "run.json").read_text())
    record.update(status="running", pid=os.getpid())   # as if still training here
    (path / "run.json").write_text(json.dumps(record))
    before = (path / "run.json").read_bytes()
    tmp = writers_temp(Run.open(path))
    capsys.readouterr()
    assert main(["export", str(path), str(tmp_path / "again"), "--formats", "keras",
                 "--json"]) == 0
    assert (tmp / "variables.npz").read_bytes() == b"half"
    assert (path / "run.json").read_bytes() == before     # the writer's to write


def test_a_run_whose_writer_is_unknown_or_gone_is_interrupted(tmp_path):
    import subprocess
    import sys

    run = live_run(tmp_path)
    del run.record["pid"]            # pid 0 once asked about this process group: "alive"
    assert run.status == "interrupted"
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    run.record["pid"] = proc.pid
    assert run.status == "interrupted"
    run.record["pid"] = os.getpid()
    assert run.status == "running"


def test_asking_whether_a_writer_lives_never_signals_it_on_windows(monkeypatch):
    """On Windows os.kill(pid, 0) terminates the process: listing runs would end the
    training it asks about."""
    from desktop_ft.core import atomic

    def kill(pid, sig):
        raise AssertionError("os.kill on Windows terminates the process")

    monkeypatch.setattr(os, "name", "nt")
    monkeypatch.setattr(os, "kill", kill)
    monkeypatch.setattr(atomic, "_windows_pid_alive", lambda pid: pid == 1234)
    assert atomic.pid_alive(1234) and not atomic.pid_alive(99)


def test_sizing_a_run_while_its_writer_swaps_a_checkpoint(tmp_path, monkeypatch):
    """A file seen by the walk, then removed by the writer before it is measured."""
    from desktop_ft.core.training.runs import disk_usage

    run = live_run(tmp_path)
    gone = run.path / "checkpoints" / "last" / "state.json"
    real_stat, seen = os.stat, []

    def stat(path, *args, **kwargs):
        if os.fspath(path) == str(gone):
            seen.append(path)
            if len(seen) > 1:
                raise FileNotFoundError(2, "No such file or directory", str(path))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", stat)
    assert disk_usage(run.path) > 0
