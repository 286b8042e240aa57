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

import hashlib
import json
import zipfile
from pathlib import Path

from desktop_ft.core import compat
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
