"""What LoRA and int8 share across modalities: quantizing a backbone, and copying a LoRA
model's weights into a plain clone (adapters merged into the kernels)."""

from __future__ import annotations

import os
import tempfile
import warnings

from desktop_ft.core import compat


def quantize_backbone(backbone) -> None:
    """``backbone.quantize("int8")`` without Keras's per-layer warnings and collections."""
    # Keras collects garbage after each float kernel it drops: one collection at the end.
    with warnings.catch_warnings(), compat.gc_collect_deferred():
        # Keras warns for every layer without a quantized form (norms, dropout, …).
        warnings.simplefilter("ignore", UserWarning)
        backbone.quantize("int8")


def merged_weights_into(model, clone) -> None:
    """Load ``model``'s weights into ``clone``, a copy of it without adapter layers:
    kernels = W + (A·B)·(alpha/rank)."""
    fd, path = tempfile.mkstemp(suffix=".weights.h5")
    os.close(fd)
    try:
        # Keras writes LoRA layers' kernels merged; the clone has plain kernels. (Its
        # optimizer is not built, so Keras warns that it skips the optimizer's state.)
        model.save_weights(path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            clone.load_weights(path)
    finally:
        os.unlink(path)


def merged_copy(model, backbone, attach):
    """``model`` without adapter layers, loadable by plain Keras/keras-hub: a fresh
    backbone from ``backbone``'s config, ``attach(fresh_backbone)`` builds the model
    around it, and :func:`merged_weights_into` fills it (kernels = W + (A·B)·alpha/rank)."""
    clone = attach(type(backbone).from_config(backbone.get_config()))
    merged_weights_into(model, clone)
    return clone
