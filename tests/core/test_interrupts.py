"""Termination (SIGTERM, SIGHUP, a second Ctrl+C) of the CLI during model load, training
and export: the process ends within 5 s with one line and no traceback, the run folder is
consistent and resumable, and the previous export is intact."""

import json
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from desktop_ft.cli import main
from desktop_ft.core import atomic
from tests.core.test_runs import env, only_run

# Deadlines of a few seconds: measured alone, not beside other tests (README).
pytestmark = pytest.mark.deadline

TINY = ["--model", "vgg16", "--weights", "none", "--image-size", "32", "--strategy", "full",
        "--batch-size", "2", "--no-feature-cache", "--seed", "3"]
DEADLINE_S = 5.0


def start(args, prelude=""):
    """``desktop-ft ARGS`` in a fresh process; ``prelude`` runs first (to stand in for a
    step that ignores interrupts)."""
    code = textwrap.dedent(prelude) + "\nimport sys\nfrom desktop_ft.cli import main\n" \
        "sys.exit(main(sys.argv[1:]))\n"
    return subprocess.Popen([sys.executable, "-c", code, *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env())


def wait_for(predicate, timeout=180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def end(proc, signum=signal.SIGTERM):
    """Send ``signum``; return (exit status, seconds it took, stderr)."""
    t0 = time.monotonic()
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=30)
    return proc.returncode, time.monotonic() - t0, err


def epochs_done(runs):
    records = list(runs.glob("*/run.json"))
    return json.loads(records[0].read_text())["epochs_done"] if records else 0


def assert_one_line(err, expected):
    lines = [line for line in err.strip().splitlines() if line.startswith("desktop-ft:")]
    assert lines and expected in lines[-1], err[-2000:]
    assert "Traceback" not in err, err[-2000:]


def no_leftovers(folder):
    return [p.name for p in folder.rglob(".*") if ".tmp-" in p.name or ".old-" in p.name]


@pytest.mark.slow
def test_sigterm_during_training_leaves_a_resumable_run(image_folder, tmp_path, capsys):
    runs = tmp_path / "runs"
    proc = start(["train", *TINY, "--epochs", "4", "--data", image_folder,
                  "--run-dir", runs, "--export", tmp_path / "out"])
    wait_for(lambda: epochs_done(runs) >= 1)
    code, seconds, err = end(proc)
    assert code == 143 and seconds < DEADLINE_S, (code, seconds, err[-2000:])
    assert_one_line(err, "terminated by SIGTERM")
    run = only_run(runs)
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "interrupted" and 1 <= record["epochs_done"] < 4
    assert not no_leftovers(run) and not (tmp_path / "out").exists()
    # Resumable: the terminated process is gone, so this one need not be a process of its
    # own (the signal's handling is over). train needs an export; nothing reads it.
    assert main(["train", "--resume", str(run), "--export", str(tmp_path / "out"),
                 "--formats", "keras", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["epochs_run"] == 4 and summary["resumed_from"] == record["epochs_done"]


@pytest.mark.slow
def test_second_ctrl_c_exits_at_once_and_leaves_the_run_resumable(image_folder, tmp_path):
    runs = tmp_path / "runs"
    proc = start(["train", *TINY, "--epochs", "50", "--data", image_folder,
                  "--run-dir", runs, "--export", tmp_path / "out"])
    wait_for(lambda: epochs_done(runs) >= 1)
    proc.send_signal(signal.SIGINT)        # the first: stop after this batch, then export
    # Python runs a handler once for signals that arrive together: wait for the first
    # to be acknowledged before the second.
    wait_for(lambda: "Stopping after this batch" in proc.stdout.readline(), timeout=60)
    code, seconds, err = end(proc, signal.SIGINT)   # the second: now
    assert code == 130 and seconds < DEADLINE_S, (code, seconds, err[-2000:])
    assert_one_line(err, "--resume RUN_DIR")
    run = only_run(runs)
    assert json.loads((run / "run.json").read_text())["status"] in ("interrupted", "stopped")
    assert (run / "checkpoints" / "last" / "variables.npz").is_file()
    assert not no_leftovers(run) and not no_leftovers(tmp_path)


# A step that swallows the interrupt (as a library's ``except BaseException`` would, or a
# long native call): only the watchdog can end the process.
STUBBORN = """
import time
def stubborn(*args, **kwargs):
    print("in the stubborn step", flush=True)
    while True:
        try:
            time.sleep(0.5)
        except BaseException:
            pass
"""


@pytest.mark.parametrize("where", ["load", "export"])
def test_sigterm_in_a_step_that_ignores_it_still_exits_in_time(image_folder, tmp_path, where):
    out = tmp_path / "out"
    prelude = STUBBORN
    if where == "load":
        prelude += ("import desktop_ft.core.models.registry as r\n"
                    "r.load_model = stubborn\n"
                    "import desktop_ft.core.models as m\nm.load_model = stubborn\n")
        args = ["layers", *TINY[:6]]
    else:
        # A previous export to keep intact, and the new one stuck writing its SavedModel.
        # (Made in this process: only the export below is signalled.)
        assert main(["train", *TINY, "--epochs", "1", "--data", str(image_folder),
                     "--run-dir", str(tmp_path / "runs"), "--export", str(out),
                     "--formats", "keras"]) == 0
        before = (out / "export.json").read_text()
        prelude += ("import desktop_ft.core.export.saved_model as e\n"
                    "e.write_saved_model = stubborn\n")
        args = ["export", only_run(tmp_path / "runs"), out]
    proc = start(args, prelude)
    wait_for(lambda: proc.stdout.readline().startswith("in the stubborn step"))
    code, seconds, err = end(proc)
    assert code == 143 and seconds < DEADLINE_S, (code, seconds, err[-2000:])
    assert "Traceback" not in err
    if where == "export":
        assert (out / "export.json").read_text() == before      # the previous export
        assert no_leftovers(tmp_path)                          # the killed one's temporary…
        atomic.recover(out)                                    # …is cleared by the next
        assert not no_leftovers(tmp_path) and (out / "export.json").read_text() == before


def test_recover_puts_back_a_folder_parked_between_the_renames(tmp_path):
    target = tmp_path / "last"
    parked = tmp_path / ".last.old-1234"
    parked.mkdir()
    (parked / "weights").write_text("epoch 2")
    (tmp_path / ".last.tmp-5678").mkdir()     # half-written epoch 3
    atomic.recover(target)
    assert (target / "weights").read_text() == "epoch 2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last"]


def test_a_termination_that_surfaces_as_another_error_is_still_the_termination(tmp_path):
    """A second Ctrl+C arriving inside native code once surfaced as "SystemError: … bad
    argument to internal function" (exit 1, "error"): it is still the abort, status 130."""
    script = textwrap.dedent("""
        import sys
        from desktop_ft.cli import main
        from desktop_ft.cli import commands
        from desktop_ft.core import interrupts

        def scan(args):
            interrupts.begin_termination(130)
            raise SystemError("Objects/listobject.c:338: bad argument to internal function")

        commands.COMMANDS["scan"] = scan
        sys.exit(main(["scan", sys.argv[1]]))
    """)
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 130, proc.stderr[-2000:]
    assert_one_line(proc.stderr, "--resume RUN_DIR")
