"""Every rename that matters is durable: the new file (each file of a new folder) is
synced before it is renamed, and the folder holding it after — run.json, project.json and
the checkpoint swaps."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from desktop_ft.core import atomic


@pytest.fixture
def synced(monkeypatch):
    """The paths os.fsync was called on, in order (Linux: read back from /proc)."""
    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc to name a file descriptor")
    calls = []
    real = os.fsync

    def record(fd):
        calls.append(Path(os.readlink(f"/proc/self/fd/{fd}")))
        return real(fd)

    monkeypatch.setattr(os, "fsync", record)
    return calls


def test_run_json_is_synced(tmp_path, synced):
    from desktop_ft.core.training.runs import Run

    run = Run.create(tmp_path, job={}, architecture="vgg16", classes=["a"], split={}, tree={},
                     peft=None)
    synced.clear()
    run.mark("finished")
    [tmp] = [p for p in synced if p.name.startswith(".run.json.tmp-")]
    assert synced.index(tmp) < synced.index(run.path)
    assert json.loads((run.path / "run.json").read_text())["status"] == "finished"


def test_project_json_is_synced(tmp_path, synced):
    from desktop_ft.core.project import Project, save_project
    from desktop_ft.core.training import TrainJob

    save_project(tmp_path / "p.desktop-ft.json", Project(TrainJob()))
    [tmp] = [p for p in synced if p.name.startswith(".p.desktop-ft.json.tmp-")]
    assert synced.index(tmp) < synced.index(tmp_path)
    assert not list(tmp_path.glob(".*tmp*"))


def test_checkpoint_swap_is_synced(tmp_path, synced):
    target = tmp_path / "checkpoints" / "last"
    target.mkdir(parents=True)
    new = atomic.temp_beside(target)
    np.savez(new / "variables.npz", a=np.zeros(3))
    (new / "state.json").write_text("{}")
    atomic.replace_dir(new, target)
    names = [p.name for p in synced]
    assert names.index("variables.npz") < names.index(new.name)
    assert names.index("state.json") < names.index(new.name)
    assert synced[-1] == target.parent      # the rename itself, after everything


def test_write_text_syncs_file_then_folder(tmp_path, synced):
    atomic.write_text(tmp_path / "a.json", "{}")
    assert len(synced) == 2 and synced[1] == tmp_path
    assert synced[0].name.startswith(".a.json.tmp-")


def test_a_folder_that_cannot_be_synced_is_skipped(tmp_path, monkeypatch):
    def refuse(fd):
        raise OSError(22, "Invalid argument")

    real_open = os.open
    monkeypatch.setattr(os, "open", lambda p, flags, *a: (_ for _ in ()).throw(
        PermissionError(13, "a folder")) if Path(p).is_dir() else real_open(p, flags, *a))
    atomic.fsync_dir(tmp_path)               # Windows: a folder cannot be opened
    monkeypatch.setattr(os, "open", real_open)
    monkeypatch.setattr(os, "fsync", refuse)
    atomic.fsync_dir(tmp_path)               # a file system that refuses (EINVAL)
