"""Every use of a private TensorFlow, Keras or CPython API, in one place.

Each function here reads or changes state that no public API exposes, is guarded to do
nothing where that state is not what it expects, and has a test in
``tests/core/test_compat.py`` that fails loudly when upstream changes it.
"""

from __future__ import annotations

import collections
import contextlib


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


def archive_keeps_only_captured_variables(archive) -> None:
    """Keras 3.15's ``ExportArchive`` would store every weight twice: once as the Keras
    variable tracked by ``track()``, once as the ``tf.Variable`` the endpoint captures
    (``write_out`` tracks those itself). Keep only the captured ones: the SavedModel's
    variables are then the size of model.keras's weights, and the endpoint restores
    exactly what it uses. The lists live on the private ``_tf_trackable``."""
    trackable = getattr(archive, "_tf_trackable", None)
    if trackable is None:        # pragma: no cover - another Keras: both copies kept
        return
    for attr in ("variables", "trainable_variables", "non_trainable_variables"):
        if hasattr(trackable, attr):
            setattr(trackable, attr, [])


def all_layers(layer, include_self: bool = True) -> list:
    """Every layer inside ``layer``, depth first (Keras's ``_flatten_layers``: no public
    API walks nested models and a keras-hub backbone's sublayers)."""
    return list(layer._flatten_layers(include_self=include_self))


def direct_sublayers(layer) -> list:
    """The layers a layer tracks directly (``_layers``), in creation order."""
    return list(getattr(layer, "_layers", []))
