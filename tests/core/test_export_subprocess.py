"""An export written in a subprocess is bounded in time (a stuck one is stopped with a
message that says how to allow longer), and its staging folder does not outlive it — nor
the exporting process, when that one was killed."""

import json
import os
import socket
import subprocess
import sys
import time

import pytest
from tests.conftest import hanging_popen

from desktop_ft.core.errors import UserError
from desktop_ft.core.export import staging


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def make_stage(parent, name, pids=None, host=None, age_s=0.0):
    stage = parent / f"{staging.STAGE_PREFIX}{name}"
    stage.mkdir()
    if pids is not None:
        (stage / staging.OWNER).write_text(json.dumps(
            {"pids": pids, "host": host or socket.gethostname()}))
    if age_s:
        then = time.time() - age_s
        os.utime(stage, (then, then))
    return stage


def test_stale_stages_are_reclaimed_and_live_ones_kept(tmp_path):
    killed = make_stage(tmp_path, "killed", [dead_pid(), dead_pid()])
    live = make_stage(tmp_path, "live", [dead_pid(), os.getpid()])  # its subprocess runs
    old = make_stage(tmp_path, "old", age_s=2 * staging.UNOWNED_STALE_S)
    fresh = make_stage(tmp_path, "fresh")      # just made: owner.json not written yet
    remote = make_stage(tmp_path, "remote", [dead_pid()], host="another-machine")
    stage = staging.new_stage(tmp_path)
    assert not killed.exists() and not old.exists()
    assert live.is_dir() and fresh.is_dir() and remote.is_dir() and stage.is_dir()
    assert json.loads((stage / staging.OWNER).read_text())["pids"] == [os.getpid()]


def test_timeout_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv(staging.TIMEOUT_VARIABLE, raising=False)
    assert staging.export_timeout() == staging.DEFAULT_TIMEOUT_S >= 3600
    monkeypatch.setenv(staging.TIMEOUT_VARIABLE, "90")
    assert staging.export_timeout() == 90
    monkeypatch.setenv(staging.TIMEOUT_VARIABLE, "soon")
    with pytest.raises(UserError, match="DESKTOP_FT_EXPORT_TIMEOUT must be a number"):
        staging.export_timeout()


def test_a_stuck_export_subprocess_is_stopped(tmp_path, monkeypatch):
    """The subprocess hangs (here: sleeps instead of exporting); after the timeout it is
    killed, the error says how to allow longer, and neither its stage nor a partial
    OUT/ is left."""
    from desktop_ft.core.export.plan import Route
    from desktop_ft.core.export.writers import ExportJob, ExportOptions
    from desktop_ft.core.export.writer import export_through
    from desktop_ft.core.models import ModelSpec, load_model
    from desktop_ft.core.observer import Observer

    bundle = load_model(ModelSpec("vgg16", weights="none", image_size=32, num_classes=2))
    started = hanging_popen(monkeypatch)
    monkeypatch.setenv(staging.TIMEOUT_VARIABLE, "1.5")
    out = tmp_path / "out"
    t0 = time.monotonic()
    with pytest.raises(UserError, match="did not finish within 1.5 s") as e:
        export_through(ExportJob(bundle, out, ["a", "b"], ExportOptions(samples=[], info={}),
                                 Observer()), Route(("saved_model",), {}, via="tensorflow"))
    assert time.monotonic() - t0 < 60
    assert "nothing was written" in str(e.value) and "DESKTOP_FT_EXPORT_TIMEOUT" in str(e.value)
    assert started[0].poll() is not None            # killed, not left running
    assert not out.exists()
    assert not list(tmp_path.glob(f"{staging.STAGE_PREFIX}*"))


def test_an_ended_but_unreaped_process_owns_nothing():
    from desktop_ft.core import atomic

    proc = subprocess.Popen([sys.executable, "-c", "pass"])    # not waited for: a zombie
    deadline = time.monotonic() + 30
    while atomic.pid_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not atomic.pid_alive(proc.pid)
    proc.wait()


CHILD = """
import time
from desktop_ft.core.export import staging
staging.end_with_parent(0.1)
print("ready", flush=True)
time.sleep(120)      # stuck, as a conversion can be
"""
PARENT = """
import subprocess, sys
child = subprocess.Popen([sys.executable, "-c", sys.argv[1]], stdout=subprocess.PIPE,
                         text=True)
if child.stdout.readline().strip() != "ready":
    sys.exit("the export subprocess did not start")
print(child.pid, flush=True)
"""


def test_the_export_subprocess_ends_when_its_parent_is_killed():
    """Without its parent nobody reads its result, and it would keep its stage owned."""
    from desktop_ft.core import atomic

    parent = subprocess.run([sys.executable, "-c", PARENT, CHILD], capture_output=True,
                            text=True, timeout=120)     # it ends: as good as killed
    assert parent.returncode == 0, parent.stderr[-2000:]
    pid = int(parent.stdout.split()[-1])
    deadline = time.monotonic() + 30
    while atomic.pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    alive = atomic.pid_alive(pid)
    if alive:
        os.kill(pid, 9)
    assert not alive
