"""Process-wide set-up: the backend's import, compute devices, precision and distribution.

* **Precision.** Mixed precision on GPUs that support it (bfloat16 from compute
  capability 8.0, float16 with loss scaling from 7.0); never float16 on a CPU, where it
  is about 150× slower than float32.
* **Devices.** ``MirroredStrategy`` when several GPUs are visible (or several logical CPU
  devices, for tests); ``MultiWorkerMirroredStrategy`` from ``TF_CONFIG`` for several
  machines.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading

from desktop_ft.core import compat
from desktop_ft.core.errors import UserError

PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")

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


def configure() -> None:
    """Import Keras once on the chosen backend (:mod:`desktop_ft.core.backend`); on
    TensorFlow with GPU memory growth, so the app shares the card politely."""
    global _configured
    if _configured:
        return
    quiet_tensorflow()
    if "keras" not in sys.modules:
        from desktop_ft.core import backend

        backend.select(None)       # KERAS_BACKEND, else TensorFlow (not ~/.keras's choice)
    # (On TensorFlow, nothing imports JAX or IPython at start-up: see compat.)
    skipped = compat.optional_imports_skipped() if "keras" not in sys.modules and \
        os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow" else \
        contextlib.nullcontext()
    with _native_stderr_silenced(), skipped:
        import keras

        if keras.backend.backend() != "tensorflow":
            _keep_tensorflow_off_the_gpus()
            _configured = True
            return
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # already initialised: harmless
            pass
    _configured = True


def _keep_tensorflow_off_the_gpus() -> None:
    """On torch and jax, Keras still imports TensorFlow whenever it is installed (to save a
    model, for ``tf.data``, for keras-hub's tokenizer): import it now, with its start-up
    chatter hidden, and hide the GPUs from it — they belong to the chosen backend."""
    from desktop_ft.core import backend

    if not backend.tensorflow_available():
        return
    import tensorflow as tf

    try:
        tf.config.set_visible_devices([], "GPU")
    except (RuntimeError, ValueError):    # already initialised: leave it
        pass


def device_description() -> str:
    """"tensorflow · CPU", "torch · CUDA · <card>", "jax · 2 × CUDA · <card>" — for the
    status bar, the CLI and ``export.json``."""
    configure()
    from desktop_ft.core import backend

    return backend.device_description()


# ----------------------------------------------------------------------------- precision

M_ARENA_MAX = -8        # glibc's mallopt parameter


def _glibc():
    import ctypes
    import ctypes.util

    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


def limit_malloc_arenas(arenas: int = 2) -> None:
    """Cap glibc's malloc arenas. glibc gives new threads new arenas (up to 8 per core),
    and the window runs every task in a new worker thread: memory freed by TensorFlow in
    one arena is not reused by the next thread, so each run in a session added ~15 MB of
    resident memory (measured). Call before worker threads start; a no-op off glibc."""
    libc = _glibc()
    if libc is not None and "MALLOC_ARENA_MAX" not in os.environ:
        libc.mallopt(M_ARENA_MAX, arenas)


def return_free_memory() -> None:
    """Hand memory freed by the last task back to the OS (glibc's malloc_trim)."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


_gradient_scopes = 0            # traced_gradients_released() blocks now open, any thread
_gradient_scope_lock = threading.Lock()
_registered_before: set = set()   # the registry's names when the first open block began


@contextlib.contextmanager
def traced_gradients_released():
    """Around work that traces Keras functions (``fit``, a window's task): drop the
    gradient functions TensorFlow registered meanwhile.

    Each ``tf.custom_gradient`` traced in graph mode registers its gradient function in
    TensorFlow's process-wide gradient registry under a fresh name, and nothing ever
    removes it. Keras's optimizer step traces one (``tf.distribute``'s ``all_reduce`` in
    ``_all_reduce_sum_gradients``, even without a strategy), and so does every forward
    pass of an int8-quantized layer; the function closes over the traced graph. So every
    ``fit`` of every model in a session kept its graph, the ~130 functions in it and the
    weights and optimizer slots it captured (+200 MB per compile + fit of a tiny VGG16
    with Adam; ``bench/keras_recompile_leak.py``), and every prediction of an int8 model
    kept its graph.

    An entry is looked up only while its own trace is being differentiated, which is over
    when the traced call returns (a retrace registers new ones). Blocks may overlap in
    several threads: the entries are dropped when the last open block closes, so a trace
    in progress elsewhere keeps its own. TensorFlow only; a no-op where its private
    registry is not found."""
    global _gradient_scopes, _registered_before
    registry = compat.tf_gradient_registry()
    if registry is None:
        yield
        return
    with _gradient_scope_lock:
        if _gradient_scopes == 0:
            _registered_before = set(registry)
        _gradient_scopes += 1
    try:
        yield
    finally:
        with _gradient_scope_lock:
            _gradient_scopes -= 1
            if _gradient_scopes == 0:
                for name in [k for k in list(registry) if k not in _registered_before]:
                    if name.startswith("CustomGradient-"):
                        registry.pop(name, None)
                _registered_before = set()


def release_thread_state() -> None:
    """Drop what Keras keeps per thread (its global state is ``threading.local``) at the
    end of a worker thread's task. Threads started by Qt are foreign to Python, whose
    per-thread storage then lives as long as the process: without this, every model
    trained or explained in the window stayed in memory (~80 MB per run, measured by the
    GUI soak test)."""
    compat.forget_dummy_thread()
    compat.clear_keras_thread_state()


def mixed_precision_enabled() -> bool:
    import keras

    return keras.mixed_precision.global_policy().name.startswith("mixed")


def resolve_precision(requested: str, gpu_capabilities: list[tuple[int, int]]) -> tuple[str, str]:
    """(policy, note) for ``requested`` on GPUs with the given compute capabilities.

    ``auto`` picks mixed precision only on GPUs that run it fast; an explicit
    ``mixed_float16`` on a CPU is refused (it would be ~150× slower).
    """
    if requested not in PRECISIONS:
        raise UserError(f"Unknown precision '{requested}'. Choose one of: "
                        f"{', '.join(PRECISIONS)}.")
    if requested == "float32":
        return "float32", ""
    if not gpu_capabilities:
        if requested == "mixed_float16":
            raise UserError("mixed_float16 on a CPU is about 150× slower than float32; use "
                            "--precision auto or float32 (or mixed_bfloat16).",
                            window_message="Mixed float16 on a CPU is about 150× slower "
                                           "than float32: choose Precision auto or float32 "
                                           "(or mixed bfloat16) and load the model again.")
        if requested == "mixed_bfloat16":
            return "mixed_bfloat16", "bfloat16 on CPU: expect roughly float32 speed."
        return "float32", ""
    cc = min(gpu_capabilities)
    if requested == "auto":
        if cc >= (8, 0):
            return "mixed_bfloat16", f"Mixed precision: bfloat16 (compute capability {cc})."
        if cc >= (7, 0):
            return "mixed_float16", f"Mixed precision: float16 with loss scaling " \
                                    f"(compute capability {cc})."
        return "float32", f"This GPU (compute capability {cc}) gains little from mixed " \
                          "precision; using float32."
    return requested, ""


def gpu_capabilities() -> list[tuple[int, int]]:
    from desktop_ft.core import backend

    return backend.gpu_capabilities()


def apply_precision(requested: str) -> tuple[str, str]:
    """Set Keras's global dtype policy (before building a model); return (policy, note)."""
    import keras

    policy, note = resolve_precision(requested, gpu_capabilities())
    keras.mixed_precision.set_global_policy(policy)
    return policy, note


def set_random_seed(seed: int) -> None:
    """``keras.utils.set_random_seed`` without importing TensorFlow on torch and jax
    (Keras seeds TensorFlow whenever it is installed: seconds of start-up and hundreds of
    MB for a pipeline that does not use it)."""
    import keras

    if keras.backend.backend() == "tensorflow" or "tensorflow" in sys.modules:
        keras.utils.set_random_seed(seed)
        return
    import random

    import numpy as np

    if not compat.seed_keras_global_state(seed):
        keras.utils.set_random_seed(seed)   # another Keras release: TensorFlow and all
        return
    random.seed(seed)
    np.random.seed(seed)
    if keras.backend.backend() == "torch":
        import torch

        torch.manual_seed(seed)
