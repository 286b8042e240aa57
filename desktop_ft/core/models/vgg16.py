"""VGG16 from ``keras.applications`` with a new classification head.

Heads:
    ``gap``      GlobalAveragePooling → Dropout → Dense (any image size ≥ 32).
    ``original`` keep ImageNet's flatten/fc1/fc2 (224×224 only) and replace only the
                 ``predictions`` layer — the first of the three classic ways to transfer.

Example:
    >>> from desktop_ft.core.models import ModelSpec, load_model
    >>> bundle = load_model(ModelSpec("vgg16", weights="none", image_size=32, num_classes=3))
    >>> bundle.model.output_shape
    (None, 3)
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import threading
import urllib.request
from pathlib import Path

from desktop_ft.core.errors import UserError
from desktop_ft.core.observer import Observer
from desktop_ft.core.models.registry import ModelBundle, ModelSpec, to_class_probs

CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
_BASE_URL = "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"
IMAGENET_FILES = {
    # include_top: (file name, md5) — the same files and hashes keras.applications uses
    True: ("vgg16_weights_tf_dim_ordering_tf_kernels.h5", "64373286793e3c8b2b4e3219cbf3544b"),
    False: ("vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
            "6d6bbae143d832006294945121d1f1fc"),
}
BLOCKS = ("block1", "block2", "block3", "block4", "block5")


class DownloadCancelled(UserError):
    pass


def preprocess_uint8(images, image_size: int):
    """uint8 ``[N, H, W, 3]`` RGB of any H, W → VGG16 input ``float32 [N, S, S, 3]``.

    Bilinear resize, then Caffe-style preprocessing (RGB→BGR, ImageNet mean subtracted),
    exactly what ``keras.applications.vgg16.preprocess_input`` does. Used by the training
    pipeline, try-it and the exported SavedModel alike.
    """
    import tensorflow as tf

    x = tf.image.resize(tf.cast(images, tf.float32), (image_size, image_size),
                        method="bilinear", antialias=False)
    return x[..., ::-1] - tf.constant(CAFFE_MEAN_BGR, tf.float32)


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
        raise UserError(
            f"Could not download the ImageNet weights ({type(e).__name__}: {e}). You are "
            f"probably offline. Either copy {name} into {target.parent}/, or use a weights "
            "file (--weights FILE, full or no-top .h5 / .weights.h5), or train from scratch "
            "(--weights none).") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def build(spec: ModelSpec, observer: Observer, stop: threading.Event | None = None) -> ModelBundle:
    import keras

    include_top = spec.head == "original"
    shape = (spec.image_size, spec.image_size, 3)
    weights = spec.weights or "none"
    observer.on_status("Building VGG16…")
    base = keras.applications.VGG16(include_top=include_top, weights=None, input_shape=shape)
    if weights.lower() == "imagenet":
        path = download_imagenet(include_top, observer, stop)
        base.load_weights(str(path))
        source = f"imagenet ({path.name})"
    elif weights.lower() in ("none", ""):
        source = "none (random initialisation)"
    else:
        n = load_weights_file(base, weights)
        source = f"file {Path(weights).name} ({n} layers loaded)"
    observer.on_status(f"VGG16 weights: {source}")
    bundle = _attach_head(base, spec)
    bundle.weights_source = source
    return bundle


def augmentation_layers(names: list[str]) -> list:
    """Keras preprocessing layers, active only in training (identity at inference, so
    try-it and the export are unaffected). They work on VGG16-preprocessed pixels."""
    import keras

    factories = {
        "flip": lambda: keras.layers.RandomFlip("horizontal", name="augment_flip"),
        "rotation": lambda: keras.layers.RandomRotation(0.05, fill_mode="reflect",
                                                        name="augment_rotation"),
        "zoom": lambda: keras.layers.RandomZoom(0.1, fill_mode="reflect", name="augment_zoom"),
        "contrast": lambda: keras.layers.RandomContrast(0.2, name="augment_contrast"),
    }
    return [factories[n]() for n in names]


def _attach_head(base, spec: ModelSpec) -> ModelBundle:
    """The trained model: [augmentation] → VGG16's layers (the same objects, so weights
    are shared with ``base``) → head, as one flat chain of layers."""
    import keras

    from desktop_ft.core.speed import mixed_precision_enabled

    units = 1 if spec.num_classes == 2 else spec.num_classes
    activation = "sigmoid" if spec.num_classes == 2 else "softmax"
    inputs = keras.Input(shape=(spec.image_size, spec.image_size, 3), name="image")
    x = inputs
    for layer in augmentation_layers(spec.augment):
        x = layer(x)
    stop_at = "fc2" if spec.head == "original" else None
    for layer in base.layers[1:]:
        x = layer(x)
        if layer.name == stop_at:
            break
    # Under mixed precision the output layer computes in float32 for stable softmax/loss.
    out_dtype = "float32" if mixed_precision_enabled() else None
    if spec.head == "original":
        out = keras.layers.Dense(units, activation=activation, name="predictions_new",
                                 dtype=out_dtype)(x)
        new = {"predictions_new"}
    else:
        x = keras.layers.GlobalAveragePooling2D(name="head_pool")(x)
        x = keras.layers.Dropout(spec.dropout, name="head_dropout")(x)
        out = keras.layers.Dense(units, activation=activation, name="head_output",
                                 dtype=out_dtype)(x)
        new = {"head_pool", "head_dropout", "head_output"}
    model = keras.Model(inputs, out, name=f"vgg16_{spec.head}")
    return ModelBundle(spec=spec, model=model, new_layers=new, weights_source="",
                       parts={"base": base})


def rebuild_head(bundle: ModelBundle, spec: ModelSpec) -> ModelBundle:
    new = _attach_head(bundle.parts["base"], spec)
    new.weights_source = bundle.weights_source
    return new


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


def predict_proba(bundle: ModelBundle, images, batch_size: int = 32):
    import numpy as np
    import tensorflow as tf

    size = bundle.spec.image_size
    batches = []
    for i in range(0, len(images), batch_size):
        chunk = [preprocess_uint8(tf.convert_to_tensor(img)[tf.newaxis], size)[0]
                 for img in images[i:i + batch_size]]
        out = bundle.model(tf.stack(chunk), training=False)
        batches.append(np.asarray(out, dtype=np.float32))
    probs = np.concatenate(batches) if batches else np.zeros((0, bundle.num_classes), np.float32)
    return to_class_probs(probs, bundle.binary)


def chain_layers(model) -> list:
    """Layers in order, for the layer tree."""
    return [l for l in model.layers if l.__class__.__name__ != "InputLayer"]


def group_of(layer_name: str, new_layers: set[str]) -> str:
    """Tree group for a top-level layer: block1…block5, classifier (fc1/fc2) or head."""
    for b in BLOCKS:
        if layer_name.startswith(b + "_"):
            return b
    if layer_name.startswith("augment_"):
        return "augmentation"
    if layer_name in new_layers:
        return "head"
    return "classifier"
