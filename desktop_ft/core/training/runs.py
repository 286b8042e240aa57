"""Run folders: every training run records what it trains and, after every epoch, an
atomic checkpoint — so a crash, a kill or a full disk at export time loses at most the
epoch in flight, and a run can be exported again without retraining.

Layout of ``RUN/``::

    run.json                 the job, tree states, PEFT, classes, the split, the history,
                             status (running / finished / stopped / interrupted / failed),
                             best epoch
    source.json              a fingerprint of the model the run started from
    checkpoints/last/        variables.npz (only what training changes: see
                             ``checkpoint.py``), optimizer.npz, state.json
    checkpoints/best/        the same, for the best epoch by the monitored metric

Each checkpoint folder is written beside its target and swapped in with ``os.replace``;
``run.json`` is written to a temporary file and renamed. Runs live in the user's data
folder (``platformdirs``) unless ``--run-dir`` says otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from pathlib import Path

from desktop_ft.core import atomic
from desktop_ft.core.errors import UserError
from desktop_ft.core.training import checkpoint as ckpt

RUN_VERSION = 1


def default_runs_dir() -> Path:
    import platformdirs

    return Path(os.environ.get("DESKTOP_FT_RUNS") or
                Path(platformdirs.user_data_dir("desktop_ft", appauthor=False)) / "runs")


def _write_json(path: Path, record: dict) -> None:
    atomic.write_text(path, json.dumps(record, indent=1))


class Run:
    """One run folder's record (``run.json``: what it trains, its status and history).
    Create with :meth:`create`, open with :meth:`open`; its checkpoints are
    ``run.checkpoints`` (:class:`desktop_ft.core.training.checkpoint.Checkpoints`)."""

    def __init__(self, path: Path, record: dict):
        self.path = Path(path)
        self.record = record
        self.checkpoints = ckpt.Checkpoints(self.path)

    @property
    def read_only(self) -> bool:
        """Process 1… of several training together reads the run (to resume it) but
        never writes it, nor its checkpoints: process 0 does."""
        return self.checkpoints.read_only

    @read_only.setter
    def read_only(self, value: bool) -> None:
        self.checkpoints.read_only = value

    # ------------------------------------------------------------------ create / open
    @classmethod
    def create(cls, root: str | os.PathLike | None, *, job: dict, architecture: str,
               classes: list[str], split: dict, tree: dict, peft: dict | None) -> "Run":
        root = Path(root).expanduser() if root else default_runs_dir()
        name = f"{time.strftime('%Y%m%d-%H%M%S')}-{architecture}"
        path, n = root / name, 1
        while True:     # several processes may start a run in the same second
            try:
                root.mkdir(parents=True, exist_ok=True)
                path.mkdir()
                break
            except FileExistsError:
                n += 1
                path = root / f"{name}-{n}"
            except OSError as e:
                raise UserError(f"Cannot create the run folder {path}: {e.strerror or e}. "
                                "Choose another with --run-dir.",
                                window_message=f"Cannot create the run folder {path}: "
                                f"{e.strerror or e}. Free some space or make the runs "
                                "folder writable, then train again.") from e
        (path / "checkpoints").mkdir()
        record = {"desktop_ft_run": RUN_VERSION, "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                  "status": "running", "pid": os.getpid(), "host": socket.gethostname(),
                  "model": architecture, "job": job, "classes": list(classes), "split": split,
                  "tree": tree, "peft": peft, "epochs_done": 0, "history": {},
                  "best": None, "error": None, "exports": []}
        run = cls(path, record)
        run.save()
        return run

    @classmethod
    def open(cls, path: str | os.PathLike) -> "Run":
        path = Path(path).expanduser()
        try:
            record = json.loads((path / "run.json").read_text())
        except FileNotFoundError:
            raise UserError(f"{path} is not a desktop-ft run folder (no run.json).") from None
        except (OSError, ValueError) as e:
            raise UserError(f"{path}/run.json cannot be read ({e}).") from None
        if record.get("desktop_ft_run") != RUN_VERSION:
            raise UserError(f"{path} is a run of another desktop-ft version.")
        return cls(path, record)

    def save(self) -> None:
        if not self.read_only:
            _write_json(self.path / "run.json", self.record)

    # ------------------------------------------------------------------ state
    @property
    def status(self) -> str:
        """finished, stopped (by the user), failed, or running while its process lives —
        interrupted when it is gone (killed, crashed, the machine went down)."""
        status = self.record["status"]
        if status == "running" and (self.record.get("host") != socket.gethostname()
                                    or not atomic.pid_alive(int(self.record.get("pid", 0)))):
            return "interrupted"
        return status

    def add_export(self, path: str) -> None:
        """List an export made from this run in run.json — unless the run's writer is
        alive: run.json is then its file (a save from here could put back an older
        status or history), and its next save would drop the entry anyway."""
        if self.status == "running":
            return
        self.record = Run.open(self.path).record     # what is on disk now
        self.record.setdefault("exports", []).append(path)
        self.save()

    def mark(self, status: str, error: str | None = None) -> None:
        self.record["status"] = status
        self.record["error"] = error
        self.save()

    def summary(self, sizes: bool = True) -> dict:
        best = self.record.get("best") or {}
        job = self.record["job"]
        return {"path": str(self.path), "name": self.path.name,
                "status": self.status, "model": self.record["model"],
                "created": self.record["created"], "epochs_done": self.record["epochs_done"],
                "epochs": job.get("epochs"), "best": best,
                "data": job.get("data"), "bytes": disk_usage(self.path) if sizes else None,
                "error": self.record.get("error"), "note": self.record.get("note", "")}


def disk_usage(path: Path) -> int:
    """Bytes of the files under ``path``. A file removed while this walks (a live
    writer's checkpoint swap) counts as gone, not as an error."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total


def list_runs(root: str | os.PathLike | None = None, sizes: bool = True) -> list[dict]:
    """Summaries of the runs under ``root`` (default: the user's runs folder), newest
    first; folders that are not runs are skipped. ``sizes=False`` skips walking each
    run's files for its disk use."""
    root = Path(root).expanduser() if root else default_runs_dir()
    out = []
    if root.is_dir():
        for child in sorted(root.iterdir(), reverse=True):
            if (child / "run.json").is_file():
                try:
                    out.append(Run.open(child).summary(sizes))
                except UserError:
                    continue
    return out


NOTE_CHARS = 4000


def set_note(path: str | os.PathLike, text: str) -> str:
    """Keep ``text`` as the run's note in its run.json; return it as kept. A run whose
    writer is alive is refused: run.json is then that process's file, and its next save
    (from its own copy of the record) would drop the note or this save an epoch."""
    run = Run.open(path)
    if run.status == "running":
        raise UserError(f"{run.path.name} is still training: its note can be written once "
                        "it stops or finishes.")
    text = str(text).strip()[:NOTE_CHARS]
    run.record["note"] = text     # (run.json as it is on disk now: just read)
    run.save()
    return text


def delete_run(path: str | os.PathLike) -> None:
    run = Run.open(path)    # refuses folders that are not runs
    if run.status == "running":
        raise UserError(f"{run.path} is still training; stop it first.")
    shutil.rmtree(run.path)


def seed_states(model) -> list:
    """The states of the random generators inside ``model`` (dropout, augmentation), so
    a resumed run draws the same random numbers as one that never stopped."""
    import keras
    import numpy as np

    return [np.asarray(keras.ops.convert_to_numpy(g.state.value)).tolist()
            for g in _seed_generators(model)]


def restore_seed_states(model, states: list) -> None:
    generators = _seed_generators(model)
    if len(generators) == len(states):
        for g, s in zip(generators, states):
            g.state.assign(s)


_seed_generators = ckpt.seed_generators


def split_record(train, val) -> dict:
    """The split as run.json keeps it (paths or texts, and labels), so a resumed run
    trains on exactly the same examples."""
    def part(split):
        return {"items": list(split.items), "labels": list(split.labels)} if split else None
    return {"train": part(train), "val": part(val)}


def checkpoint_callback(run: Run, bundle, monitor: str, history: dict):
    """A Keras callback that, after every epoch, appends to the run's history and writes
    its ``last`` checkpoint (and ``best``, when ``monitor`` improved) atomically."""
    import math
    import time as _time

    import keras

    from desktop_ft.core.training.monitor import improved

    class Checkpoint(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self._t0 = _time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            if self.model.stop_training:
                # Stopped mid-epoch (Stop, a NaN loss): a partial epoch is not a
                # checkpoint; a resumed run redoes it from its first batch.
                return
            logs = {k: float(v) for k, v in (logs or {}).items()
                    if isinstance(v, (int, float)) or hasattr(v, "__float__")}
            for k, v in logs.items():
                history.setdefault(k, []).append(v)
            states = seed_states(bundle.model)
            optimizer = getattr(self.model, "optimizer", None)
            keys = run.checkpoints.save("last", bundle, optimizer, epoch + 1, states)
            value = logs.get(monitor)
            best = run.record.get("best")
            if value is not None and math.isfinite(value) and improved(
                    monitor, value, None if best is None else best["value"]):
                run.checkpoints.save("best", bundle, optimizer, epoch + 1, states, keys)
                run.record["best"] = {"epoch": epoch + 1, "monitor": monitor, "value": value,
                                      "val_accuracy": logs.get("val_accuracy"),
                                      "val_macro_f1": logs.get("val_macro_f1")}
            run.record["epochs_done"] = epoch + 1
            run.record["history"] = history
            run.record.setdefault("epoch_seconds", []).append(_time.perf_counter() - self._t0)
            run.save()

    return Checkpoint()
