"""Process-wide TensorFlow/Keras set-up and compute-device discovery."""

from __future__ import annotations

import contextlib
import os
import sys

_configured = False


@contextlib.contextmanager
def _native_stderr_silenced():
    """TensorFlow 2.21's C++ start-up lines (oneDNN, CUDA stubs, cuInit) ignore
    TF_CPP_MIN_LOG_LEVEL; hide them at the file-descriptor level while importing.
    Set DESKTOP_FT_TF_LOGS=1 to see them."""
    if os.environ.get("DESKTOP_FT_TF_LOGS") == "1":
        yield
        return
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, ValueError, OSError):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    try:
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)
        os.close(devnull)


def quiet_tensorflow() -> None:
    """Hide TensorFlow's C++ start-up chatter; must run before TensorFlow is imported."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def configure() -> None:
    """Import TensorFlow once, with GPU memory growth so the app shares the card politely."""
    global _configured
    if _configured:
        return
    quiet_tensorflow()
    with _native_stderr_silenced():
        import tensorflow as tf
        import keras  # noqa: F401

        gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # already initialised: harmless
            pass
    _configured = True


def device_description() -> str:
    """"CPU", "GPU: <name>" or "2 × GPU: <name>" — for the status bar and the CLI."""
    configure()
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return "CPU"
    try:
        name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
    except Exception:
        name = "GPU"
    return f"GPU: {name}" if len(gpus) == 1 else f"{len(gpus)} × GPU: {name}"
