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
