"""Image backbone weights: ImageNet (downloaded once, with progress and cancel) or a file.

A file is a no-top (or full) weights file as ``keras.applications`` saves it
(``.h5`` / ``.weights.h5``), or a whole saved model (``.keras`` / ``.h5``) with the
backbone somewhere inside (e.g. a MobileNetV2 under a new head). Layers are matched by
name, else in order by weight shapes (a renamed VGG16 backbone such as an HED edge
detector's). A file made for another architecture gets one line saying what was
expected and what was found.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
import threading
import urllib.request
import zipfile
from pathlib import Path

from desktop_ft.core import atomic, compat
from desktop_ft.core.errors import UserError, describe_exception, is_fetch_error
from desktop_ft.core.observer import Observer


class DownloadCancelled(UserError):
    pass


def keras_cache_dir() -> Path:
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models"


def download_imagenet(arch, include_top: bool, observer: Observer,
                      stop: threading.Event | None = None) -> Path:
    """The cached ImageNet weights file of ``arch``, downloaded with progress if needed
    (Keras's own cache: ``~/.keras/models``). Cancelling (``stop`` set) or a network
    failure leaves no partial file behind."""
    name, url, expected = arch.imagenet_top if include_top else arch.imagenet
    target = keras_cache_dir() / name
    if target.exists() and _hash_ok(target, expected):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    observer.on_status(f"Downloading ImageNet weights ({name})…")
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=name + ".", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=20) as resp:
            total = int(resp.headers.get("Content-Length") or 0)
            done = 0
            while True:
                if stop is not None and stop.is_set():
                    raise DownloadCancelled("Download cancelled.")
                chunk = resp.read(1 << 20)
                if not chunk:
                    break
                out.write(chunk)
                done += len(chunk)
                observer.on_progress(done, total, "download")
        if not _hash_ok(Path(tmp), expected):
            raise UserError(f"The downloaded {name} is corrupt (checksum mismatch). Try again.")
        atomic.replace_file(Path(tmp), target)
        return target
    except UserError:
        raise
    except Exception as e:
        if not is_fetch_error(e):    # URLError, timeouts, HTTP, DNS: not a fault in code
            raise
        why = describe_exception(e)
        short = arch.short
        raise UserError(
            f"Could not download the ImageNet weights ({why}). You are probably offline. "
            f"Either copy {name} into {target.parent}/, or use a weights file (--weights "
            f"FILE: {short} weights, full or no-top .h5 / .weights.h5, or a saved model "
            "holding it), or train from scratch (--weights none).",
            window_message=(
                f"Could not download the ImageNet weights: you are probably offline. Choose "
                f"Weights → From file… ({short} weights, or a saved model holding it), or "
                f"Weights → None to train from scratch — or copy {name} into "
                f"{target.parent}/ and load again."),
            details=why) from e
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _hash_ok(path: Path, expected: str | None) -> bool:
    if not expected:
        return True
    h = hashlib.sha256() if len(expected) == 64 else hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest() == expected


def load_weights_file(backbone, path: str, arch) -> int:
    """Load ``arch``'s backbone weights from a Keras weights file or saved model; the
    number of layers loaded. Raises :class:`UserError` naming what was expected and
    found when the file holds another network."""
    import h5py

    p = Path(path).expanduser()
    if not p.is_file():
        raise UserError(f"Weights file {p} does not exist. Use --weights imagenet, none or the "
                        "path of a .h5 / .weights.h5 / .keras file.")
    try:
        if zipfile.is_zipfile(p):          # a .keras archive: its model.weights.h5
            with zipfile.ZipFile(p) as z:
                data = io.BytesIO(z.read("model.weights.h5"))
            f = h5py.File(data, "r")
        else:
            f = h5py.File(p, "r")
    except (OSError, KeyError) as e:
        raise UserError(f"{p} is not a Keras weights file or saved model ({e}). Expected a "
                        ".h5, .weights.h5 or .keras file.") from None
    with f:
        arrays = _read_arrays(f)
    targets = [layer for layer in _weighted_layers(backbone)]
    used: set[int] = set()
    # Keras 3 files name their groups by class (conv2d, batch_normalization, …), not by
    # layer: names there would collide with automatically named layers, so only legacy
    # files (and keras.applications' own) are matched by name.
    keras3 = any("/vars/" in key or key.startswith("vars/") for key, _ in arrays)
    loaded = set() if keras3 else _load_by_name(targets, arrays, used)
    if len(loaded) < len(targets):
        loaded |= _load_by_shape([t for t in targets if id(t) not in loaded], arrays, used)
    complete = len(loaded) == len(targets)
    if not loaded or (not complete and not arch.chain):
        short = arch.short
        found = _what_it_holds(arrays, arch)
        raise UserError(
            f"{p.name} does not hold {short} weights: expected {len(targets)} layers such as "
            f"{', '.join(t.name for t in targets[:3])}; found {found}, {len(loaded)} of "
            f"{len(targets)} layers fit.",
            window_message=f"{p.name} does not hold {short} weights (found {found}).")
    return len(loaded)


def _weighted_layers(model) -> list:
    """Layers owning weights, nested models flattened (a keras.applications backbone has
    none nested; a saved model may)."""
    out = []
    for layer in model.layers:
        nested = hasattr(layer, "layers") and layer.layers
        if nested and not compat.own_variables(layer, trainable_only=True):
            out.extend(_weighted_layers(layer))
        elif layer.weights:
            out.append(layer)
    return out


def _load_by_name(targets, arrays, used: set) -> set:
    """Layers whose name owns arrays of their shapes; their array indices go to
    ``used``."""
    by_name: dict[str, list] = {}
    names = {t.name for t in targets}
    for index, (key, _) in enumerate(arrays):
        parts = key.split("/")
        owner = next((part for part in reversed(parts[:-1]) if part in names), None)
        if owner is not None:
            by_name.setdefault(owner, []).append(index)
    loaded = set()
    for layer in targets:
        want = [tuple(w.shape) for w in layer.weights]
        got = by_name.get(layer.name, [])[:len(want)]
        if got and [arrays[i][1].shape for i in got] == want:
            layer.set_weights([arrays[i][1] for i in got])
            used.update(got)
            loaded.add(id(layer))
    return loaded


def _load_by_shape(targets, arrays, used: set) -> set:
    """In order: each layer takes the next unused consecutive arrays of its shapes."""
    loaded = set()
    for layer in targets:
        want = [tuple(w.shape) for w in layer.weights]
        for i in range(len(arrays) - len(want) + 1):
            if any(i + k in used for k in range(len(want))):
                continue
            if all(arrays[i + k][1].shape == s for k, s in enumerate(want)):
                layer.set_weights([arrays[i + k][1] for k in range(len(want))])
                used.update(range(i, i + len(want)))
                loaded.add(id(layer))
                break
    return loaded


def _what_it_holds(arrays, expected) -> str:
    from desktop_ft.core.models.image.architectures import ARCHITECTURES

    names = {part for key, _ in arrays for part in key.split("/")}
    size = f"{len(arrays)} weight arrays"
    if expected.signature and expected.signature in names:
        # Its layer names, other shapes: a sibling (EfficientNetV2-B3 for B0, VGG19 …).
        return f"weights of a network named like it with other shapes ({size})"
    guesses = [a.short for a in ARCHITECTURES.values()
               if a.signature and a.signature in names]
    return f"{' or '.join(guesses[:2])} weights ({size})" if guesses else size


def _read_arrays(f) -> list[tuple[str, object]]:
    """All weight arrays as (path, array), in each layer's own order: legacy Keras h5
    groups list theirs in ``weight_names`` (trainable first, then the rest); Keras 3
    files use ``vars/0``, ``vars/1`` … (natural sort keeps them in order)."""
    out = []

    def natural(s):
        return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]

    def visit(group, prefix):
        if "optimizer" in prefix.split("/")[0]:
            return
        names = group.attrs.get("weight_names") if hasattr(group, "attrs") else None
        if names is not None and len(names):
            for n in names:
                n = n.decode() if isinstance(n, bytes) else str(n)
                if n in group:
                    out.append((f"{prefix}/{n}" if prefix else n, group[n][()]))
            return
        for key in sorted(group.keys(), key=natural):
            item = group[key]
            name = f"{prefix}/{key}" if prefix else key
            if hasattr(item, "keys"):
                visit(item, name)
            else:
                out.append((name, item[()]))

    visit(f, "")
    return out
