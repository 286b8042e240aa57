"""VGG16 weights: ImageNet (downloaded once, with progress and cancel) or a file.

A file may hold full or no-top VGG16 weights, or come from another model whose backbone
is VGG16 (e.g. an HED edge detector): layers are matched by name, else by shape.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import threading
import urllib.request
from pathlib import Path

from desktop_ft.core.errors import UserError, describe_exception
from desktop_ft.core.observer import Observer

_BASE_URL = "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"
IMAGENET_FILES = {
    # include_top: (file name, md5) — the same files and hashes keras.applications uses
    True: ("vgg16_weights_tf_dim_ordering_tf_kernels.h5", "64373286793e3c8b2b4e3219cbf3544b"),
    False: ("vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
            "6d6bbae143d832006294945121d1f1fc"),
}


class DownloadCancelled(UserError):
    pass


def keras_cache_dir() -> Path:
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models"


def imagenet_weights_path(include_top: bool) -> Path:
    return keras_cache_dir() / IMAGENET_FILES[include_top][0]


def download_imagenet(include_top: bool, observer: Observer,
                      stop: threading.Event | None = None) -> Path:
    """Return the cached ImageNet weights file, downloading it with progress if needed.

    Cancelling (``stop`` set) or a network failure leaves no partial file behind.
    """
    name, md5 = IMAGENET_FILES[include_top]
    target = imagenet_weights_path(include_top)
    if target.exists() and _md5(target) == md5:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    observer.on_status(f"Downloading ImageNet weights ({name})…")
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=name + ".", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, \
                urllib.request.urlopen(_BASE_URL + name, timeout=20) as resp:
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
        if _md5(Path(tmp)) != md5:
            raise UserError(f"The downloaded {name} is corrupt (checksum mismatch). Try again.")
        os.replace(tmp, target)
        return target
    except UserError:
        raise
    except Exception as e:  # URLError, timeouts, HTTP errors, DNS failures
        why = describe_exception(e)
        raise UserError(
            f"Could not download the ImageNet weights ({why}). You are probably offline. "
            f"Either copy {name} into {target.parent}/, or use a weights file (--weights "
            "FILE, full or no-top .h5 / .weights.h5), or train from scratch (--weights "
            "none).",
            window_message=(
                f"Could not download the ImageNet weights: you are probably offline. Choose "
                f"Weights → From file… (a full or no-top VGG16 .h5 / .weights.h5 file), or "
                f"Weights → None to train from scratch — or copy {name} into "
                f"{target.parent}/ and load again."),
            details=why) from e
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_weights_file(base, path: str) -> int:
    """Load VGG16 conv/dense weights from a Keras ``.h5``/``.weights.h5`` file.

    Accepts full or no-top files, and files from other models whose backbone is VGG16
    (e.g. an HED edge detector): layers are matched by name when the file uses Keras's
    names (block1_conv1, …), else in order by kernel/bias shapes. Returns the number of
    layers loaded.
    """
    import h5py

    p = Path(path).expanduser()
    if not p.is_file():
        raise UserError(f"Weights file {p} does not exist. Use --weights imagenet, none or the "
                        "path of a .h5 / .weights.h5 file.")
    try:
        f = h5py.File(p, "r")
    except OSError as e:
        raise UserError(f"{p} is not an HDF5 weights file ({e}). Expected a Keras .h5 or "
                        ".weights.h5 file.") from None
    with f:
        arrays = _read_arrays(f)
    targets = [l for l in base.layers if l.weights]
    loaded = 0
    by_name = {}
    for key, arr in arrays:
        for l in targets:
            if re.search(rf"(^|/){re.escape(l.name)}(/|$)", key):
                by_name.setdefault(l.name, []).append(arr)
    used = set()
    for layer in targets:
        want = [tuple(w.shape) for w in layer.weights]
        got = by_name.get(layer.name)
        if got and [a.shape for a in got[:len(want)]] == want:
            layer.set_weights(got[:len(want)])
            loaded += 1
            continue
        # In-order shape matching: next unused consecutive arrays with the right shapes.
        for i in range(len(arrays) - len(want) + 1):
            if any(i + k in used for k in range(len(want))):
                continue
            if all(arrays[i + k][1].shape == s for k, s in enumerate(want)):
                layer.set_weights([arrays[i + k][1] for k in range(len(want))])
                used.update(range(i, i + len(want)))
                loaded += 1
                break
    if loaded == 0:
        raise UserError(f"{p} holds no weights that fit VGG16's layers (checked "
                        f"{len(arrays)} arrays by name and by shape). Expected VGG16 weights "
                        "(full or no-top).")
    return loaded


def _read_arrays(f) -> list[tuple[str, object]]:
    """All datasets in file order (natural sort, so conv2d_10 follows conv2d_9)."""
    out = []

    def natural(s):
        return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]

    def visit(group, prefix):
        for key in sorted(group.keys(), key=natural):
            item = group[key]
            name = f"{prefix}/{key}" if prefix else key
            if hasattr(item, "keys"):
                visit(item, name)
            else:
                out.append((name, item[()]))

    visit(f, "")
    # Legacy Keras h5 files list a layer's weights as kernel:0 then bias:0 — natural sort
    # keeps that order; Keras 3 files use vars/0, vars/1.
    return out
