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

import errno
import json
import os
import shutil
import socket
import time
import warnings
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
    """One run folder. Create with :meth:`create`, open with :meth:`open`."""

    def __init__(self, path: Path, record: dict):
        self.path = Path(path)
        self.record = record
        self._source: dict | None = None
        self._keys: set = set()      # saved once: saved at every later epoch too
        self._checked = False
        # Process 1… of several training together reads the run (to resume it) but
        # never writes it: process 0 does.
        self.read_only = False

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

    def checkpoint_dir(self, which: str = "last") -> Path:
        """The folder to read a checkpoint from. Reading changes nothing in the run: its
        writer may be alive (an export of a run still training), and what lies beside
        the checkpoint is then that writer's work in progress."""
        path = atomic.current(self.path / "checkpoints" / which)
        if not ((path / ckpt.VARIABLES).is_file() or (path / ckpt.LEGACY_WEIGHTS).is_file()):
            if which == "best" and atomic.current(self.path / "checkpoints" / "last").is_dir():
                return self.checkpoint_dir("last")
            raise UserError(f"{self.path} has no {which} checkpoint yet: the run ended "
                            "before its first epoch finished.")
        return path

    def summary(self, sizes: bool = True) -> dict:
        best = self.record.get("best") or {}
        job = self.record["job"]
        return {"path": str(self.path), "name": self.path.name,
                "status": self.status, "model": self.record["model"],
                "created": self.record["created"], "epochs_done": self.record["epochs_done"],
                "epochs": job.get("epochs"), "best": best,
                "data": job.get("data"), "bytes": disk_usage(self.path) if sizes else None,
                "error": self.record.get("error")}

    # ------------------------------------------------------------------ checkpoints
    def record_source(self, bundle) -> None:
        """Fingerprint the model the run starts from (``source.json``, once per run)."""
        self._source = ckpt.source_record(bundle, int(self.record["job"].get("seed", 0)))
        if not self.read_only:
            _write_json(self.path / ckpt.SOURCE, self._source)

    @property
    def source(self) -> dict | None:
        if self._source is None:
            self._source = ckpt.read_source(self.path)
        return self._source

    def _keys_to_save(self, bundle) -> set:
        source = self.source
        if source is None or not source.get("rebuildable", True):
            return set(ckpt.keyed_variables(bundle.model))
        self._keys |= ckpt.changing_keys(bundle)
        if not self._checked:      # once per process: anything else that moved
            self._checked = True
            self._keys |= ckpt.moved_keys(bundle.model, source, self._keys)
        return self._keys

    def save_checkpoint(self, which: str, bundle, optimizer, epoch: int,
                        seed_states: list, keys: set | None = None) -> set:
        """Write ``checkpoints/<which>/`` atomically: the variables training changes,
        optimizer state, epoch and the random generators' states; returns the keys."""

        if self.read_only:
            return keys or set()
        keys = self._keys_to_save(bundle) if keys is None else keys
        target = self.path / "checkpoints" / which
        atomic.recover(target)
        tmp = atomic.temp_beside(target)
        try:
            ckpt.save_variables(tmp / ckpt.VARIABLES, bundle.model, keys)
            if optimizer is not None:
                _save_arrays(tmp / "optimizer.npz", optimizer.variables)
            (tmp / "state.json").write_text(json.dumps(
                {"epoch": epoch, "seed_states": seed_states}))
            atomic.replace_dir(tmp, target)
        except BaseException as e:
            shutil.rmtree(tmp, ignore_errors=True)
            if isinstance(e, OSError) and e.errno == errno.ENOSPC or \
                    "No space left" in str(e):
                free = shutil.disk_usage(self.path).free
                raise UserError(f"Not enough disk space in {self.path} for epoch {epoch}'s "
                                f"checkpoint ({free / 1e6:,.0f} MB free); the previous "
                                "checkpoint is intact and the run can be resumed once there "
                                "is room.", details=str(e)) from e
            raise
        return keys

    def load_weights(self, model, which: str = "last", rebuilt: bool = False) -> dict:
        """Load a checkpoint's weights into ``model``; return its state.json.
        ``rebuilt``: the model was just built from the run's source, so what the
        checkpoint does not hold is first checked against the run's fingerprint."""
        folder = self.checkpoint_dir(which)
        if (folder / ckpt.VARIABLES).is_file():
            self._keys |= ckpt.load_variables(folder, model, self.source if rebuilt else None,
                                              self.path.name)
        else:                # a run folder from before partial checkpoints
            with warnings.catch_warnings():
                # The file also holds the optimizer's state, restored separately.
                warnings.simplefilter("ignore", UserWarning)
                model.load_weights(str(folder / ckpt.LEGACY_WEIGHTS))
        return json.loads((folder / "state.json").read_text())

    def load_state(self, which: str = "last") -> dict:
        return json.loads((self.checkpoint_dir(which) / "state.json").read_text())

    def load_optimizer(self, optimizer, variables, which: str = "last") -> bool:
        """Build ``optimizer`` for ``variables`` and restore its saved state; False when
        the saved state does not fit (e.g. other variables train now)."""
        import numpy as np

        path = self.checkpoint_dir(which) / "optimizer.npz"
        if not path.is_file():
            return False
        with np.load(path) as saved:
            values = [saved[f"arr_{i}"] for i in range(len(saved.files))]
        if not optimizer.built:     # (compile builds it on TensorFlow)
            optimizer.build(variables)
        if len(values) != len(optimizer.variables) or any(
                tuple(v.shape) != tuple(a.shape) for v, a in zip(optimizer.variables, values)):
            return False
        for v, a in zip(optimizer.variables, values):
            v.assign(a)
        return True


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
            keys = run.save_checkpoint("last", bundle, optimizer, epoch + 1, states)
            value = logs.get(monitor)
            best = run.record.get("best")
            if value is not None and math.isfinite(value) and (
                    best is None or value < best["value"]):
                run.save_checkpoint("best", bundle, optimizer, epoch + 1, states, keys)
                run.record["best"] = {"epoch": epoch + 1, "monitor": monitor, "value": value,
                                      "val_accuracy": logs.get("val_accuracy")}
            run.record["epochs_done"] = epoch + 1
            run.record["history"] = history
            run.record.setdefault("epoch_seconds", []).append(_time.perf_counter() - self._t0)
            run.save()

    return Checkpoint()


def _save_arrays(path, variables) -> None:
    """An ``.npz`` (``arr_0``, ``arr_1`` … as ``np.savez`` names them, no pickle) written
    one variable at a time: ``np.savez`` needs every array in memory at once, which for
    Adam is twice the trainable weights on top of training's peak."""
    import zipfile

    import numpy as np

    with zipfile.ZipFile(path, "w", allowZip64=True) as zf:
        for i, v in enumerate(variables):
            with zf.open(f"arr_{i}.npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asarray(v), allow_pickle=False)
