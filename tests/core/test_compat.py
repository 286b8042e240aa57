"""Each private upstream API that core/compat.py touches, checked to still behave as it
assumes: these fail loudly when Keras changes."""

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


def test_export_archive_keeps_each_weight_once(tmp_path):
    import keras

    from desktop_ft.core import backend

    if backend.name() != "tensorflow":
        import pytest

        pytest.skip("ExportArchive runs on TensorFlow")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    archive = keras.export.ExportArchive()
    archive.track(model)
    assert len(archive._tf_trackable.variables) == 2     # what the compat function empties
    compat.archive_keeps_only_captured_variables(archive)
    assert archive._tf_trackable.variables == [] and \
        archive._tf_trackable.trainable_variables == []


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
