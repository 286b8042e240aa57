"""Every use of a private TensorFlow, Keras or CPython API, in one place.

Each function here reads or changes state that no public API exposes, is guarded to do
nothing where that state is not what it expects, and has a test in
``tests/core/test_compat.py`` that fails loudly when upstream changes it.
"""

from __future__ import annotations

import collections
import contextlib
import sys
import threading


@contextlib.contextmanager
def fresh_layer_names():
    """Within the block, Keras names new layers as in a fresh session ("conv2d",
    "conv2d_1", …), so a backbone's automatically named layers get the same names — and
    the same tree paths — each time it is built. Keras keeps its name counters in the
    thread-local ``global_state`` attribute ``object_name_uids``."""
    try:
        from keras.src.backend.common import global_state
    except ImportError:          # pragma: no cover - a Keras without it: names as they come
        yield
        return
    saved = global_state.get_global_attribute("object_name_uids")
    global_state.set_global_attribute("object_name_uids", collections.defaultdict(int))
    try:
        yield
    finally:
        global_state.set_global_attribute("object_name_uids", saved)


# Imported at start-up only for features the app never calls: TensorFlow's LiteRT module
# imports JAX for its JAX converter, Keras imports IPython for notebook display. Both
# guard the import with ``except ImportError``. About 2 s of every start where they are
# installed (measured with ``python -X importtime`` and a timed ``runtime.configure()``).
UNUSED_AT_START = ("jax", "IPython")
SKIPPED: set[str] = set()     # the names optional_imports_skipped blocks right now


@contextlib.contextmanager
def optional_imports_skipped(names=UNUSED_AT_START):
    """Inside, ``import NAME`` fails as if NAME were not installed, for each name not
    already imported; afterwards it imports normally again."""
    blocked = [n for n in names if n not in sys.modules]
    for name in blocked:
        sys.modules[name] = None        # the import system reads None as "not found"
    SKIPPED.update(blocked)
    try:
        yield blocked
    finally:
        SKIPPED.difference_update(blocked)
        for name in blocked:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


_gc_deferred = {"depth": 0, "collect": None}
_gc_lock = threading.Lock()


@contextlib.contextmanager
def gc_collect_deferred():
    """Within the block ``gc.collect()`` does nothing; one full collection runs when the
    last such block ends. Keras runs a full collection each time quantizing drops a float
    kernel (``Layer.__delattr__``): ~0.6 s each with TensorFlow loaded, 8 s of a 2-layer
    model's 10 s and most of a base model's minute. ``gc.collect`` is process-wide, so
    blocks in several threads share one patch (counted: overlapping blocks cannot leave
    the no-op installed), and it is put back whatever happens inside."""
    import gc

    with _gc_lock:
        if _gc_deferred["depth"] == 0:
            _gc_deferred["collect"] = gc.collect
            gc.collect = lambda generation=2: 0
        _gc_deferred["depth"] += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_deferred["depth"] -= 1
            collect = _gc_deferred["collect"]
            if _gc_deferred["depth"] == 0:
                gc.collect = collect
                _gc_deferred["collect"] = None
        if _gc_deferred["depth"] == 0:
            collect()      # frees the float kernels the skipped collections would have


@contextlib.contextmanager
def keras_weights_through_disk():
    """Keras 3 builds ``model.weights.h5`` in memory and then copies it into the
    ``.keras`` zip — twice the weights' size at the peak of an export (+114 MB for
    VGG16, the highest point of a whole training job; measured), unless it thinks memory
    is short (``saving_lib.is_memory_sufficient``): then it writes them to a temporary
    file beside the target first. Take that path always (assets, such as BERT's
    vocabulary, are saved as usual)."""
    try:
        from keras.src.saving import saving_lib
    except ImportError:          # pragma: no cover - a Keras without it: its own way
        yield
        return
    original = getattr(saving_lib, "is_memory_sufficient", None)
    if original is None:         # pragma: no cover
        yield
        return
    saving_lib.is_memory_sufficient = lambda model: False
    try:
        yield
    finally:
        saving_lib.is_memory_sufficient = original


def traced_for_saving(fn):
    """The concrete function of ``fn`` (a ``tf.function`` with an input signature),
    traced as ``tf.saved_model.save`` will look for it, so that the save reuses it.

    TensorFlow keys a function's traces by whether a SavedModel save is under way (the
    save options' variable policy is part of the key): a trace made before the save is
    made again inside it. For a text model's endpoint, tokenizer and all, one trace is
    ~2 s here. ``save_context`` is private."""
    import tensorflow as tf

    try:
        from tensorflow.python.saved_model import save_context
    except ImportError:          # pragma: no cover - another TensorFlow: traced twice
        return fn.get_concrete_function()
    with save_context.save_context(tf.saved_model.SaveOptions()):
        return fn.get_concrete_function()


def all_layers(layer, include_self: bool = True) -> list:
    """Every layer inside ``layer``, depth first (Keras's ``_flatten_layers``: no public
    API walks nested models and a keras-hub backbone's sublayers)."""
    return list(layer._flatten_layers(include_self=include_self))


def direct_sublayers(layer) -> list:
    """The layers a layer tracks directly (``_layers``), in creation order."""
    return list(getattr(layer, "_layers", []))


def own_variables(layer, trainable_only: bool = False) -> list:
    """The variables a layer creates itself, not its sublayers' (Keras keeps them in
    ``_trainable_variables`` / ``_non_trainable_variables``; ``layer.weights`` includes
    the sublayers')."""
    own = list(getattr(layer, "_trainable_variables", None) or [])
    if not trainable_only:
        own += list(getattr(layer, "_non_trainable_variables", None) or [])
    return own


def seed_generators_of(layer) -> list:
    """The ``SeedGenerator``s a layer created itself (``_seed_generators``): Dropout's,
    RandomFlip's… — their state is what a resumed run restores."""
    return list(getattr(layer, "_seed_generators", None) or [])


def tf_gradient_registry() -> dict | None:
    """TensorFlow's process-wide gradient registry (``ops._gradient_registry._registry``,
    name → function), where every traced ``tf.custom_gradient`` adds an entry that is
    never removed; None unless Keras runs on TensorFlow (or where it is not found)."""
    keras = sys.modules.get("keras")
    if "tensorflow" not in sys.modules or keras is None or \
            keras.backend.backend() != "tensorflow":
        return None
    from tensorflow.python.framework import ops

    registry = getattr(getattr(ops, "_gradient_registry", None), "_registry", None)
    return registry if isinstance(registry, dict) else None


def clear_keras_thread_state() -> None:
    """Drop what Keras keeps for the calling thread: its global state and settings are
    ``threading.local`` trackers in ``keras.src.backend.common.global_state``."""
    if "keras" not in sys.modules:
        return
    try:
        from keras.src.backend.common import global_state
    except ImportError:          # pragma: no cover - another Keras: nothing dropped
        return
    for name in ("GLOBAL_STATE_TRACKER", "GLOBAL_SETTINGS_TRACKER"):
        tracker = getattr(global_state, name, None)
        if tracker is not None:
            vars(tracker).clear()


def forget_dummy_thread() -> None:
    """Python makes a "dummy" Thread object the first time code in a foreign thread asks
    for ``threading.current_thread()`` (logging does), and keeps it after the thread has
    ended: the window's ``threading.active_count()`` crept from 2 to 8 over 30 runs
    (the GUI soak test). Forget this thread's dummy (CPython's ``threading._active``)."""
    me = threading.current_thread()
    dummy = getattr(threading, "_DummyThread", None)
    active = getattr(threading, "_active", None)
    lock = getattr(threading, "_active_limbo_lock", None)
    if dummy is None or active is None or lock is None or not isinstance(me, dummy):
        return      # (private to CPython: left alone where it differs)
    with lock:
        if active.get(me.ident) is me:
            del active[me.ident]


def seed_keras_global_state(seed: int) -> bool:
    """Keras's global seed (what ``keras.utils.set_random_seed`` sets besides Python's,
    NumPy's and TensorFlow's), and a fresh global seed generator; False where these
    private names are not found (the caller then uses Keras's own function)."""
    try:
        from keras.src.backend.common import global_state
        from keras.src.random import seed_generator
        from keras.src.utils.rng_utils import GLOBAL_RANDOM_SEED
    except ImportError:          # pragma: no cover
        return False
    global_state.set_global_attribute(GLOBAL_RANDOM_SEED, seed)
    global_state.set_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR, None)
    return True


def keras_hub_preset_file(preset: str, name: str) -> str:
    """A file of a keras-hub preset (a name on Kaggle or Hugging Face, or a folder),
    downloaded and cached as keras-hub does (``preset_utils.get_file``)."""
    from keras_hub.src.utils.preset_utils import get_file

    return get_file(preset, name)


def patch_keras_multiworker_reduce() -> None:
    """Work around Keras 3's broken ``fit`` under MultiWorkerMirroredStrategy
    (keras-team/keras#20585, open): its per-step "mean" reduction passes ``axis=0`` for
    scalar losses and metrics, which fails. Scalars are reduced with ``axis=None``; all
    other cases go to Keras unchanged. Applied only when ``--distributed`` is used."""
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer as tf_trainer

    original = tf_trainer.reduce_per_replica
    if getattr(original, "_desktop_ft_patch", False):
        return

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and \
                tf_trainer._collective_all_reduce_multi_worker(strategy):
            def one(v):
                first = v.values[0] if tf_trainer._is_per_replica_instance(v) else v
                return strategy.reduce("MEAN", v, axis=None if first.shape.rank == 0 else 0)

            return tree.map_structure(one, values)
        return original(values, strategy, reduction)

    reduce_per_replica._desktop_ft_patch = True
    tf_trainer.reduce_per_replica = reduce_per_replica


def build_metrics_from_local_batch(model) -> None:
    """Keras builds a model's metrics from an all-reduced *eager* batch before ``fit``,
    which MultiWorkerMirroredStrategy cannot do (keras-team/keras#20585); build them
    from this worker's local batch instead (same shapes, no collective): the model's
    private ``_maybe_symbolic_build`` is replaced."""
    import types

    import tensorflow as tf
    from keras.src import tree

    def build_from_local_batch(self, iterator=None, data_batch=None):
        if self._distribute_strategy is None:
            return
        if iterator is not None:
            for _, _, it in iterator:
                batch = next(it)
                data_batch = tree.map_structure(
                    lambda x: x.values[0] if isinstance(x, tf.distribute.DistributedValues)
                    else x, batch)
                break
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    model._maybe_symbolic_build = types.MethodType(build_from_local_batch, model)


def patch_tf2onnx_for_numpy2() -> bool:
    """Keras's own fixes that let tf2onnx 1.17 run under numpy 2 (what Keras's ONNX
    export applies first); False when this Keras has none."""
    try:
        from keras.src.export.tf2onnx_lib import patch_tf2onnx
    except ImportError:   # pragma: no cover - a Keras without them
        return False
    patch_tf2onnx()
    return True


@contextlib.contextmanager
def plain_tf_grouped_convolutions():
    """While a graph is traced for tf2onnx: Keras's TensorFlow backend runs a grouped
    convolution (keras-hub MobileNet's depthwise ``Conv2D(groups=…)``) through an
    XLA-compiled function, because TensorFlow's CPU kernel lacks them; tf2onnx cannot
    convert that call (``StatefulPartitionedCall``). Traced as a plain ``Conv2D`` op it
    becomes ONNX's grouped ``Conv``. Nothing runs the TensorFlow graph itself."""
    import tensorflow as tf
    from keras.src.backend.tensorflow import nn

    original = nn.conv

    def conv(inputs, kernel, strides=1, padding="valid", data_format=None,
             dilation_rate=1):
        tf_format = nn._convert_data_format(data_format, len(inputs.shape))
        return tf.nn.convolution(inputs, kernel, strides, padding.upper(),
                                 data_format=tf_format, dilations=dilation_rate)

    nn.conv = conv
    try:
        yield
    finally:
        nn.conv = original


def localize_jax_variables(variables) -> None:
    """Put JAX variables that a ``keras.distribution`` laid out over several devices
    (or processes) onto this process's first device. Keras keeps each variable's layout
    in the private ``_layout`` and re-applies it on every ``assign``, and offers no way
    to drop it; without this, a model trained under ``DataParallel`` predicts only on
    batches that split evenly over every device of the group."""
    import numpy as np

    for v in variables:
        if not hasattr(v, "_layout"):
            continue
        value = np.asarray(v.value)    # a replicated array reads on any one process
        v._layout = None
        v.assign(value)


def keras_hub_wordpiece_max_bytes(tokenizer, max_bytes: int) -> bool:
    """Let keras-hub's WordPiece tokenizer piece words up to ``max_bytes`` UTF-8 bytes:
    it builds ``tf_text.FastWordpieceTokenizer`` (the private ``_fast_word_piece``) with
    that op's default, 100 bytes, where Hugging Face's WordPiece allows 100 *characters*
    (40 kana are 120 bytes). Rebuilt with the same arguments but the limit; False where
    the attribute is not there."""
    if getattr(tokenizer, "_fast_word_piece", None) is None:
        return False
    import tensorflow_text as tf_text

    tokenizer._fast_word_piece = tf_text.FastWordpieceTokenizer(
        vocab=tokenizer.vocabulary, token_out_type=tokenizer.compute_dtype,
        suffix_indicator=tokenizer.suffix_indicator, unknown_token=tokenizer.oov_token,
        no_pretokenization=True, support_detokenization=True, max_bytes_per_word=max_bytes)
    return True
