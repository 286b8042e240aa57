"""Which Keras 3 backend runs the engine — TensorFlow, PyTorch or JAX — and on what device.

Keras fixes its backend when it is first imported, so :func:`select` must run before
anything imports ``keras``: the CLI calls it from ``--backend``, the window from its
Settings (read at start-up). ``KERAS_BACKEND`` in the environment is respected; without
either, TensorFlow.

Example:
    >>> from desktop_ft.core import backend
    >>> backend.select(None)          # KERAS_BACKEND, else tensorflow
    'tensorflow'
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys

from desktop_ft.core.errors import UserError

BACKENDS = ("tensorflow", "torch", "jax")
DEFAULT = "tensorflow"
INSTALL = {"tensorflow": 'pip install "desktop-ft"  (TensorFlow is a default dependency)',
           "torch": 'pip install "desktop-ft[torch]"',
           "jax": 'pip install "desktop-ft[jax]"'}


def requested(choice: str | None = None) -> str:
    """The backend a process would use: ``choice``, else ``KERAS_BACKEND``, else
    TensorFlow. Raises :class:`UserError` for an unknown name."""
    name = (choice or os.environ.get("KERAS_BACKEND") or DEFAULT).strip().lower()
    name = {"pytorch": "torch", "tf": "tensorflow"}.get(name, name)
    if name not in BACKENDS:
        raise UserError(f"Unknown backend '{name}'. Choose one of: {', '.join(BACKENDS)}.")
    return name


def installed(name: str) -> bool:
    """Importable here. (A name start-up skips for now is looked up on the path; any
    other name set to None in ``sys.modules`` is not importable.)"""
    from desktop_ft.core import compat

    if name in compat.SKIPPED:
        return importlib.machinery.PathFinder.find_spec(name) is not None
    return importlib.util.find_spec(name) is not None


def select(choice: str | None = None) -> str:
    """Fix this process's Keras backend (before Keras is imported) and return its name.

    A backend whose package is missing is refused with the command that installs it;
    asking for another backend after Keras was imported is refused too (Keras reads it
    once)."""
    name = requested(choice)
    if not installed(name):
        raise UserError(f"The {name} backend is not installed: {INSTALL[name]}.")
    current = active()
    if current is not None and current != name:
        raise UserError(f"Keras already runs on {current} in this process; the backend is "
                        f"chosen at start-up (restart with --backend {name}).",
                        window_message=f"Keras already runs on {current} in this process; "
                        f"the backend is chosen at start-up (choose {name} under Compute "
                        "backend in File → Settings…, then restart the app).")
    os.environ["KERAS_BACKEND"] = name
    return name


def active() -> str | None:
    """The backend Keras runs on, or None before Keras is imported."""
    keras = sys.modules.get("keras")
    if keras is None:
        return None
    return keras.backend.backend()


def name() -> str:
    """The backend in use (importing Keras if needed)."""
    import keras

    return keras.backend.backend()


def tensorflow_available() -> bool:
    """Whether TensorFlow can be imported (any backend may use it for the SavedModel)."""
    return installed("tensorflow")


def tensorflow_text_missing(try_import: bool = True) -> str | None:
    """Why the text SavedModel's tokenizer ops (tensorflow-text) cannot run in this
    process, or None when they can. Imports TensorFlow (call it where TensorFlow runs),
    unless ``try_import`` is False: then only a missing package is found.

    Found is not enough: a tensorflow-text built for another TensorFlow fails at import
    (and keras-hub, which swallows that ImportError, then fails inside the SavedModel's
    trace with an AttributeError)."""
    advice = ("the text SavedModel's tokenizer needs tensorflow-text, {}; it has no "
              "Windows wheel (Linux x86_64 and macOS arm64 have one)")
    if not tensorflow_available() or not installed("tensorflow_text"):
        return advice.format("which is not installed")
    if not try_import:
        return None
    import tensorflow as tf

    try:
        import tensorflow_text  # noqa: F401
    except (ImportError, OSError, tf.errors.NotFoundError) as e:
        return advice.format(f"which fails to import here ({type(e).__name__}: {e})")
    return None


# ----------------------------------------------------------------------------- devices

def gpus() -> list[dict]:
    """The accelerators the active backend sees: ``{"kind", "name", "capability"}``
    (``kind`` is CUDA, ROCm, MPS or GPU; ``capability`` a (major, minor) compute
    capability for NVIDIA cards, else None)."""
    backend = name()
    if backend == "tensorflow":
        import tensorflow as tf

        out = []
        for gpu in tf.config.list_physical_devices("GPU"):
            try:
                details = tf.config.experimental.get_device_details(gpu)
            except Exception:
                details = {}
            cc = details.get("compute_capability")
            out.append({"kind": "CUDA" if cc else "GPU",
                        "name": details.get("device_name", "GPU"),
                        "capability": tuple(cc) if cc else None})
        return out
    if backend == "torch":
        import torch

        if torch.cuda.is_available():
            kind = "ROCm" if getattr(torch.version, "hip", None) else "CUDA"
            return [{"kind": kind, "name": torch.cuda.get_device_name(i),
                     "capability": tuple(torch.cuda.get_device_capability(i))}
                    for i in range(torch.cuda.device_count())]
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return [{"kind": "MPS", "name": "Apple GPU", "capability": None}]
        return []
    import jax

    out = []
    for d in jax.devices():
        if d.platform == "cpu":
            continue
        cc = getattr(d, "compute_capability", None)
        try:
            capability = tuple(int(v) for v in str(cc).split(".")[:2]) if cc else None
        except ValueError:
            capability = None
        out.append({"kind": "CUDA" if d.platform == "gpu" else d.platform.upper(),
                    "name": getattr(d, "device_kind", d.platform), "capability": capability})
    return out


def device_description() -> str:
    """"tensorflow · CPU", "torch · CUDA · NVIDIA H100", "jax · 2 × CUDA · …", "torch ·
    MPS" — for the status bar, the CLI and ``export.json``."""
    found = gpus()
    if not found:
        cpus = _jax_cpu_devices() if name() == "jax" else 1
        return f"{name()} · {cpus} × CPU" if cpus > 1 else f"{name()} · CPU"
    first = found[0]
    count = f"{len(found)} × " if len(found) > 1 else ""
    label = first["kind"] if first["kind"] == "MPS" else f"{first['kind']} · {first['name']}"
    return f"{name()} · {count}{label}"


def _jax_cpu_devices() -> int:
    """JAX's CPU devices in this process: several when XLA_FLAGS asks for
    ``--xla_force_host_platform_device_count`` (how the multi-device path is tested
    without GPUs; training then spreads over them)."""
    import jax

    return len(jax.local_devices(backend="cpu"))


def gpu_capabilities() -> list[tuple[int, int]]:
    """Compute capabilities of the visible NVIDIA GPUs ((0, 0) for other GPUs)."""
    return [g["capability"] or (0, 0) for g in gpus() if g["kind"] != "MPS"]


def unsupported(distributed: bool, backend: str | None = None) -> str | None:
    """What ``backend`` (default: the active one) cannot do that the job asks for — said
    before anything starts."""
    backend = backend or name()
    if distributed and backend not in ("tensorflow", "jax"):
        # Keras 3.15 implements keras.distribution for TensorFlow and JAX only; its torch
        # trainer runs on one device (multi-device fit arrives in 3.16 nightlies).
        return (f"--distributed is not available on {backend}: Keras 3.15's distribution "
                "API exists for TensorFlow's and JAX's backends only, and on PyTorch Keras "
                "trains on one GPU. Use --backend jax (keras.distribution, several "
                "processes) or --backend tensorflow (MultiWorkerMirroredStrategy).")
    return None


def gradient(fn, x):
    """d fn(x) / dx as a float32 NumPy array, on any backend: ``fn`` (written with
    ``keras.ops`` and Keras layers) maps a tensor to a scalar; ``x`` is a NumPy array.
    Under mixed precision ``x`` is bfloat16 or float16, which PyTorch cannot hand to
    NumPy (found on a GPU, where precision ``auto`` is bfloat16)."""
    import numpy as np

    backend = name()
    if backend == "tensorflow":
        import tensorflow as tf

        x = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = fn(x)
        return np.asarray(tape.gradient(y, x), dtype=np.float32)
    if backend == "torch":
        import keras
        import torch

        x = keras.ops.convert_to_tensor(x).detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(fn(x), x)
        return grad.detach().float().cpu().numpy()
    import jax

    return np.asarray(jax.grad(fn)(jax.numpy.asarray(x)), dtype=np.float32)
