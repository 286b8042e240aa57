"""What a run's checkpoint holds: only what training changes, keyed by variable path.

A checkpoint's ``variables.npz`` holds, by Keras 3 ``variable.path``:

* every variable that trains (``model.trainable_variables``), in any phase of the run;
* the moving statistics of BatchNormalization layers that train (``train_bn``);
* every variable of the freshly initialised layers (the head) and of LoRA adapters, even
  frozen: they do not come from the source weights;
* whatever changed in an earlier run on the same loaded model (the window trains a model
  several times), and any other variable whose value moved by the first checkpoint.

The random generators' states go to ``state.json`` (see ``runs.seed_states``); the
optimizer's to ``optimizer.npz``. Everything else is rebuilt from the run's source (the
recorded model spec: preset, weights file, ``--weights none`` with the run's seed),
checked against ``source.json``: a hash of every variable, taken once when the run
started. A source that changed gives one :class:`UserError` line naming what changed.

Runs whose source cannot be rebuilt (random weights the window loaded without the run's
seed) save every variable, as runs did before; run folders with a full
``weights.weights.h5`` are still read.
"""

from __future__ import annotations

import errno
import hashlib
import json
import shutil
import warnings
import zipfile
from pathlib import Path

from desktop_ft.core import atomic, compat
from desktop_ft.core.errors import UserError

VARIABLES = "variables.npz"
LEGACY_WEIGHTS = "weights.weights.h5"
SOURCE = "source.json"


def seed_generators(model) -> list:
    found = []
    for layer in compat.all_layers(model):
        for g in compat.seed_generators_of(layer):
            if all(g is not f for f in found):
                found.append(g)
    return found


def keyed_variables(model) -> dict:
    """``{path: variable}`` for every model variable but the random generators' states
    (those go to state.json). A path that occurs twice gets ``#2``, ``#3`` …"""
    seeds = {id(g.state) for g in seed_generators(model)}
    out: dict = {}
    for v in model.variables:
        if id(v) in seeds:
            continue
        key, n = v.path, 1
        while key in out:
            n += 1
            key = f"{v.path}#{n}"
        out[key] = v
    return out


def _value(v):
    import numpy as np

    return np.ascontiguousarray(np.asarray(v.numpy() if hasattr(v, "numpy") else v))


def digest(array) -> str:
    h = hashlib.blake2b(digest_size=12)
    h.update(f"{array.dtype.str}{array.shape}".encode())
    h.update(memoryview(array).cast("B"))
    return h.hexdigest()


def source_record(bundle, seed: int) -> dict:
    """The fingerprint of the model a run starts from: a hash of each variable."""
    random = str(bundle.weights_source).startswith("none")
    rebuildable = not random or bundle.parts.get("source_seed") == seed
    return {"weights": bundle.weights_source, "rebuildable": rebuildable,
            "variables": {k: digest(_value(v))
                          for k, v in keyed_variables(bundle.model).items()}}


def changing_keys(bundle) -> set:
    """The keys a checkpoint saves now (see the module's docstring)."""
    import keras

    model = bundle.model
    keyed = keyed_variables(model)
    ids = {id(v) for v in model.trainable_variables}
    new = set(bundle.new_layers or ())
    for layer in compat.all_layers(model, include_self=False):
        if layer.name in new or (isinstance(layer, keras.layers.BatchNormalization)
                                 and layer.trainable):
            ids.update(id(v) for v in layer.variables)
    keys = {k for k, v in keyed.items() if id(v) in ids or "lora_kernel" in k}
    return keys | (set(bundle.parts.get("trained_keys", ())) & keyed.keys())


def note_trained(bundle) -> None:
    """Remember on the bundle what this training changes, for later runs on it."""
    bundle.parts["trained_keys"] = set(bundle.parts.get("trained_keys", ())) | \
        changing_keys(bundle)


def moved_keys(model, source: dict, saved: set) -> set:
    """Keys not saved whose value no longer matches the run's start (hashes each)."""
    recorded = source.get("variables", {})
    return {k for k, v in keyed_variables(model).items()
            if k not in saved and recorded.get(k) != digest(_value(v))}


def save_variables(path: Path, model, keys: set) -> None:
    """``keys``' values into an ``.npz`` (no pickle), one variable at a time."""
    import numpy as np

    keyed = keyed_variables(model)
    with zipfile.ZipFile(path, "w", allowZip64=True) as zf:
        for key in sorted(keys):
            with zf.open(f"{key}.npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, _value(keyed[key]), allow_pickle=False)


def load_variables(folder: Path, model, source: dict | None, run_name: str) -> set:
    """Assign a checkpoint's variables to ``model``. With ``source`` (the model was
    rebuilt from the run's source), first check every variable the checkpoint does not
    hold against the run's fingerprint. Returns the keys loaded."""
    import numpy as np

    keyed = keyed_variables(model)
    with np.load(folder / VARIABLES, allow_pickle=False) as npz:
        saved = {k[:-4] if k.endswith(".npy") else k: npz[k] for k in npz.files}
    extra = sorted(set(saved) - set(keyed))
    wrong = sorted(k for k in set(saved) & set(keyed)
                   if tuple(keyed[k].shape) != tuple(saved[k].shape))
    what = source.get("weights") if source else "its source"
    if extra or wrong:
        raise UserError(f"Run {run_name} cannot be rebuilt: its checkpoint holds "
                        f"{len(extra) + len(wrong)} weight(s) the model built from {what} "
                        f"lacks or shapes differently (first: {(extra + wrong)[0]}); the "
                        "model is built differently from when the run started. Use the "
                        "desktop-ft version that trained it, or train a new run.")
    if source is not None:
        recorded = source.get("variables", {})
        rest = [k for k in keyed if k not in saved]
        changed = [k for k in rest if recorded.get(k) != digest(_value(keyed[k]))]
        if changed:
            raise UserError(f"Run {run_name} keeps only what training changed and takes "
                            f"the rest from its source, {what}, which changed since the "
                            f"run started: {len(changed)} of {len(rest)} source weights "
                            f"differ (first: {changed[0]}). Put the original weights back "
                            "(same file, preset and model settings) or train a new run.")
    for k, a in saved.items():
        keyed[k].assign(a)
    return set(saved)


def read_source(run_path: Path) -> dict | None:
    path = Path(run_path) / SOURCE
    return json.loads(path.read_text()) if path.is_file() else None


class Checkpoints:
    """A run folder's checkpoints (``checkpoints/last`` and ``checkpoints/best``): written
    atomically after every epoch, holding only what training changes (checked against
    the run's ``source.json``), and read back to resume, restore or export. ``read_only``:
    a process that reads the run but never writes it (process 1… of several)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.read_only = False
        self._source: dict | None = None
        self._keys: set = set()      # saved once: saved at every later epoch too
        self._checked = False

    def record_source(self, bundle, seed: int) -> None:
        """Fingerprint the model the run starts from (``source.json``, once per run)."""
        self._source = source_record(bundle, seed)
        if not self.read_only:
            atomic.write_text(self.folder / SOURCE, json.dumps(self._source, indent=1))

    @property
    def source(self) -> dict | None:
        if self._source is None:
            self._source = read_source(self.folder)
        return self._source

    def directory(self, which: str = "last") -> Path:
        """The folder to read a checkpoint from. Reading changes nothing in the run: its
        writer may be alive (an export of a run still training), and what lies beside
        the checkpoint is then that writer's work in progress."""
        path = atomic.current(self.folder / "checkpoints" / which)
        if not ((path / VARIABLES).is_file() or (path / LEGACY_WEIGHTS).is_file()):
            if which == "best" and atomic.current(self.folder / "checkpoints" / "last").is_dir():
                return self.directory("last")
            raise UserError(f"{self.folder} has no {which} checkpoint yet: the run ended "
                            "before its first epoch finished.")
        return path

    def _keys_to_save(self, bundle) -> set:
        source = self.source
        if source is None or not source.get("rebuildable", True):
            return set(keyed_variables(bundle.model))
        self._keys |= changing_keys(bundle)
        if not self._checked:      # once per process: anything else that moved
            self._checked = True
            self._keys |= moved_keys(bundle.model, source, self._keys)
        return self._keys

    def save(self, which: str, bundle, optimizer, epoch: int, seed_states: list,
             keys: set | None = None) -> set:
        """Write ``checkpoints/<which>/`` atomically: the variables training changes,
        optimizer state, epoch and the random generators' states; returns the keys."""
        if self.read_only:
            return keys or set()
        keys = self._keys_to_save(bundle) if keys is None else keys
        target = self.folder / "checkpoints" / which
        atomic.recover(target)
        tmp = atomic.temp_beside(target)
        try:
            save_variables(tmp / VARIABLES, bundle.model, keys)
            if optimizer is not None:
                _save_arrays(tmp / "optimizer.npz", optimizer.variables)
            (tmp / "state.json").write_text(json.dumps(
                {"epoch": epoch, "seed_states": seed_states}))
            atomic.replace_dir(tmp, target)
        except BaseException as e:
            shutil.rmtree(tmp, ignore_errors=True)
            if isinstance(e, OSError) and e.errno == errno.ENOSPC or \
                    "No space left" in str(e):
                free = shutil.disk_usage(self.folder).free
                raise UserError(f"Not enough disk space in {self.folder} for epoch {epoch}'s "
                                f"checkpoint ({free / 1e6:,.0f} MB free); the previous "
                                "checkpoint is intact and the run can be resumed once there "
                                "is room.", details=str(e)) from e
            raise
        return keys

    def load_weights(self, model, which: str = "last", rebuilt: bool = False) -> dict:
        """Load a checkpoint's weights into ``model``; return its state.json.
        ``rebuilt``: the model was just built from the run's source, so what the
        checkpoint does not hold is first checked against the run's fingerprint."""
        folder = self.directory(which)
        if (folder / VARIABLES).is_file():
            self._keys |= load_variables(folder, model, self.source if rebuilt else None,
                                         self.folder.name)
        else:                # a run folder from before partial checkpoints
            with warnings.catch_warnings():
                # The file also holds the optimizer's state, restored separately.
                warnings.simplefilter("ignore", UserWarning)
                model.load_weights(str(folder / LEGACY_WEIGHTS))
        return json.loads((folder / "state.json").read_text())

    def load_state(self, which: str = "last") -> dict:
        return json.loads((self.directory(which) / "state.json").read_text())

    def load_optimizer(self, optimizer, variables, which: str = "last") -> bool:
        """Build ``optimizer`` for ``variables`` and restore its saved state; False when
        the saved state does not fit (e.g. other variables train now)."""
        import numpy as np

        path = self.directory(which) / "optimizer.npz"
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


def _save_arrays(path, variables) -> None:
    """An ``.npz`` (``arr_0``, ``arr_1`` … as ``np.savez`` names them, no pickle) written
    one variable at a time: ``np.savez`` needs every array in memory at once, which for
    Adam is twice the trainable weights on top of training's peak."""
    import numpy as np

    with zipfile.ZipFile(path, "w", allowZip64=True) as zf:
        for i, v in enumerate(variables):
            with zf.open(f"arr_{i}.npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asarray(v), allow_pickle=False)
