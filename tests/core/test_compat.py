"""Each private upstream API that core/compat.py touches, checked to still behave as it
assumes: these fail loudly when Keras changes."""

import importlib.util
import os
import subprocess
import sys

import pytest

from desktop_ft.core import compat


def test_layer_names_are_the_same_each_build():
    import keras

    def names():
        with compat.fresh_layer_names():
            return [layer.name for layer in keras.applications.Xception(
                include_top=False, weights=None, input_shape=(71, 71, 3)).layers]

    keras.layers.Conv2D(1, 1)      # names taken outside the block do not shift them
    first, second = names(), names()
    assert first == second and "conv2d" in first and "add" in first

def test_gc_collect_is_deferred_while_quantizing_and_always_put_back():
    """Keras still runs gc.collect() when quantizing drops a float kernel (what the
    deferral saves); inside the block it does nothing; blocks that overlap (two threads
    quantizing) or raise leave the real gc.collect in place."""
    import gc
    import warnings

    import keras

    real = gc.collect
    calls = []
    gc.collect = lambda generation=2: calls.append(generation) or 0
    try:
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")     # layers without an int8 form
            model.quantize("int8")
    finally:
        gc.collect = real
    assert calls, "Keras no longer collects while quantizing: drop the deferral"

    with compat.gc_collect_deferred():
        assert gc.collect() == 0 and gc.collect is not real
    assert gc.collect is real
    first, second = compat.gc_collect_deferred(), compat.gc_collect_deferred()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)       # not nested: the first ends first
    assert gc.collect is not real
    second.__exit__(None, None, None)
    assert gc.collect is real
    with pytest.raises(RuntimeError), compat.gc_collect_deferred():
        raise RuntimeError("quantizing failed")
    assert gc.collect is real


def test_keras_writes_weights_through_disk_when_told_memory_is_short(tmp_path, monkeypatch):
    """``keras_weights_through_disk`` makes Keras's saver think memory is short: it must
    then stage ``model.weights.h5`` in a file, not in memory."""
    import keras
    from keras.src.saving import saving_lib

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    calls = []
    original = saving_lib.is_memory_sufficient
    monkeypatch.setattr(saving_lib, "is_memory_sufficient",
                        lambda m: calls.append(m) or original(m))
    # Keras asks this function before saving (the API the compat function relies on).
    model.save(str(tmp_path / "asked.keras"))
    assert calls, "Keras no longer asks saving_lib.is_memory_sufficient"
    patched = saving_lib.is_memory_sufficient
    with compat.keras_weights_through_disk():
        assert saving_lib.is_memory_sufficient(model) is False
        model.save(str(tmp_path / "m.keras"))
    assert saving_lib.is_memory_sufficient is patched          # restored after the block
    loaded = keras.saving.load_model(str(tmp_path / "m.keras"))
    assert loaded.layers[-1].kernel.shape == (3, 2)


def test_a_saved_function_is_traced_once_and_holds_each_weight_once(tmp_path):
    import keras

    from desktop_ft.core import backend
    from desktop_ft.core.export.saved_model import save_function

    if backend.name() != "tensorflow":
        import pytest

        pytest.skip("the SavedModel is written on TensorFlow")
    import tensorflow as tf

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])

    class Table(tf.Module):       # a tokenizer's lookup table, reached through a module
        def __init__(self):
            super().__init__()
            self.table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
                tf.constant(["a", "b"]), tf.constant([1.0, 2.0])), default_value=0.0)
    lookup = Table()
    traces = []

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="texts")])
    def serve(texts):
        traces.append(1)        # Python runs once per trace
        x = tf.repeat(lookup.table.lookup(texts)[:, None], 3, axis=1)
        return {"probs": model(x)}

    save_function(serve, tmp_path / "sm", ("serving_default", "serve"),
                  resources_of=[lookup])
    assert len(traces) == 1           # twice when the save cannot reuse the trace
    stored = [name for name, _ in tf.train.list_variables(str(tmp_path / "sm/variables/"
                                                              "variables"))
              if name.endswith("VARIABLE_VALUE")]
    assert len(stored) == 2, stored   # kernel and bias, once each
    loaded = tf.saved_model.load(str(tmp_path / "sm"))
    assert set(loaded.signatures) == {"serving_default", "serve"}
    texts = tf.constant(["b", "a", "zzz"])
    want = model(tf.constant([[2.0] * 3, [1.0] * 3, [0.0] * 3])).numpy()
    got = loaded.signatures["serve"](texts=texts)["probs"].numpy()
    assert abs(got - want).max() < 1e-6


def test_all_layers_and_direct_sublayers_walk_nested_models():
    import keras

    inner = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d1")],
                             name="inner")
    outer = keras.Sequential([keras.Input((3,)), inner, keras.layers.Dense(1, name="d2")],
                             name="outer")
    names = [layer.name for layer in compat.all_layers(outer)]
    assert names[0] == "outer" and {"inner", "d1", "d2"} <= set(names)
    assert "outer" not in [layer.name for layer in compat.all_layers(outer, False)]
    assert [layer.name for layer in compat.direct_sublayers(outer)][-2:] == ["inner", "d2"]


def test_own_variables_and_seed_generators_of_a_layer():
    import keras

    dense, drop, norm = keras.layers.Dense(2), keras.layers.Dropout(0.5), \
        keras.layers.BatchNormalization()
    model = keras.Sequential([keras.Input((3,)), dense, drop, norm])
    assert [v.name for v in compat.own_variables(dense)] == ["kernel", "bias"]
    assert len(compat.own_variables(norm)) == 4 and \
        len(compat.own_variables(norm, trainable_only=True)) == 2
    assert compat.own_variables(model) == []          # the sublayers' are not its own
    assert len(compat.seed_generators_of(drop)) == 1 and compat.seed_generators_of(dense) == []


def test_keras_thread_state_and_dummy_threads_are_forgotten():
    import _thread
    import threading
    import time

    import keras
    from keras.src.backend.common import global_state

    seen = {}

    def foreign():          # a thread Python did not start, as Qt's are
        global_state.set_global_attribute("desktop_ft_probe", 1)
        me = threading.current_thread()
        seen["dummy"] = isinstance(me, threading._DummyThread) and me.ident in threading._active
        compat.clear_keras_thread_state()
        seen["cleared"] = global_state.get_global_attribute("desktop_ft_probe") is None
        compat.forget_dummy_thread()
        seen["forgotten"] = me.ident not in threading._active
        seen["done"] = True

    assert keras.backend.backend()
    _thread.start_new_thread(foreign, ())
    deadline = time.monotonic() + 10
    while "done" not in seen and time.monotonic() < deadline:
        time.sleep(0.01)
    assert seen == {"dummy": True, "cleared": True, "forgotten": True, "done": True}


def test_keras_global_seed_and_gradient_registry():
    import keras
    from keras.src.backend.common import global_state
    from keras.src.utils.rng_utils import GLOBAL_RANDOM_SEED

    assert compat.seed_keras_global_state(1234)
    assert global_state.get_global_attribute(GLOBAL_RANDOM_SEED) == 1234
    registry = compat.tf_gradient_registry()
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf  # noqa: F401

        assert isinstance(compat.tf_gradient_registry(), dict)
    else:
        assert registry is None


def test_keras_hub_preset_file_reads_a_local_preset(tiny_bert_preset):
    from pathlib import Path

    assert Path(compat.keras_hub_preset_file(str(tiny_bert_preset), "config.json")).is_file()


def test_multiworker_workarounds_find_what_they_patch():
    """The two MultiWorkerMirroredStrategy workarounds replace private Keras functions:
    they must still exist under these names."""
    import keras

    if keras.backend.backend() != "tensorflow":
        import pytest

        pytest.skip("TensorFlow's trainer")
    from keras.src.backend.tensorflow import trainer as tf_trainer

    for name in ("reduce_per_replica", "_collective_all_reduce_multi_worker",
                 "_is_per_replica_instance"):
        assert callable(getattr(tf_trainer, name, None)), name
    assert callable(getattr(keras.Model, "_symbolic_build", None))
    assert callable(getattr(keras.Model, "_maybe_symbolic_build", None))
    compat.patch_keras_multiworker_reduce()
    assert getattr(tf_trainer.reduce_per_replica, "_desktop_ft_patch", False)


def test_keras_patches_tf2onnx_for_numpy2():
    assert compat.patch_tf2onnx_for_numpy2()


def test_grouped_convolutions_trace_as_plain_conv_ops_for_tf2onnx():
    import keras
    import tensorflow as tf

    conv = keras.layers.Conv2D(4, 3, groups=4)
    conv.build((1, 8, 8, 4))
    fn = tf.function(lambda x: conv(x))
    spec = tf.TensorSpec((1, 8, 8, 4), tf.float32)

    def op_types():
        return {op.type for op in fn.get_concrete_function(spec).graph.get_operations()}

    assert "StatefulPartitionedCall" in op_types()       # Keras's XLA-compiled call
    fn = tf.function(lambda x: conv(x))
    with compat.plain_tf_grouped_convolutions():
        types = op_types()
    assert "Conv2D" in types and "StatefulPartitionedCall" not in types, types


def test_start_up_skips_jax_and_ipython_on_tensorflow():
    """On TensorFlow, start-up imports neither JAX nor IPython (1.8 s where installed:
    TensorFlow and Keras import them for features the app does not use); both still
    import afterwards, and a name already imported is left alone."""
    code = ("import sys\n"
            "from desktop_ft.core import runtime\n"
            "runtime.configure()\n"
            "import keras\n"
            "print(keras.backend.backend(), sorted(n for n in ('jax', 'IPython') "
            "if n in sys.modules))\n"
            "import jax, IPython\n")
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
    if importlib.util.find_spec("jax") is None or importlib.util.find_spec("IPython") is None:
        pytest.skip("needs jax and IPython installed")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "tensorflow []"
    with compat.optional_imports_skipped(("json", "a_module_never_imported")) as blocked:
        import json  # noqa: F401   already imported: untouched
        assert blocked == ["a_module_never_imported"]
    assert "a_module_never_imported" not in sys.modules


def test_a_module_skipped_at_start_up_still_counts_as_installed(monkeypatch):
    """(The Settings dialog may list the backends while start-up skips one.)"""
    from desktop_ft.core import backend

    monkeypatch.setitem(sys.modules, "wave", None)     # as optional_imports_skipped does
    monkeypatch.setattr(compat, "SKIPPED", {"wave"})
    assert backend.installed("wave")
    assert not backend.installed("a_module_never_installed")
    # Set to None by anyone else, a name is not importable (tests make TensorFlow so).
    monkeypatch.setattr(compat, "SKIPPED", set())
    assert not backend.installed("wave")


def test_keras_hub_wordpiece_takes_longer_words():
    """keras-hub's WordPiece turns a word of more than 100 bytes into [UNK]; rebuilt with
    a larger limit it pieces it (the SavedModel's tokenizer needs that for 40 kana)."""
    import keras_hub
    import tensorflow as tf

    word = tf.constant(["ab" * 60])
    tokenizer = keras_hub.tokenizers.WordPieceTokenizer(
        vocabulary=["[UNK]", "[PAD]", "ab", "##ab"], oov_token="[UNK]")

    def ids():     # traced: eagerly keras-hub runs its pure-Python path instead
        return tf.function(tokenizer)(word).to_list()
    assert ids() == [[0]]
    assert compat.keras_hub_wordpiece_max_bytes(tokenizer, 400)
    assert ids() == [[2] + [3] * 59]


def test_jax_variables_laid_out_over_two_devices_come_back_to_one():
    """``localize_jax_variables`` drops Keras's private ``_layout``: afterwards a model
    trained under DataParallel predicts a batch of 1 (which 2 devices cannot split)."""
    from desktop_ft.core import backend

    if not backend.installed("jax"):
        pytest.skip("jax is not installed")
    script = "\n".join((
        "import keras, numpy as np",
        "from desktop_ft.core import compat",
        "keras.distribution.set_distribution(keras.distribution.DataParallel())",
        "model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])",
        "assert all(v._layout is not None for v in model.variables)",
        "before = model.get_weights()",
        "keras.distribution.set_distribution(None)",
        "compat.localize_jax_variables(model.variables)",
        "assert all(len(v.value.devices()) == 1 for v in model.variables)",
        "assert all((a == b).all() for a, b in zip(before, model.get_weights()))",
        "print(model.predict(np.ones((1, 3)), verbose=0).shape)"))
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3",
           "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0 and "(1, 2)" in proc.stdout, proc.stderr[-2000:]
