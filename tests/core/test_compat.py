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
