"""What LoRA and int8 share across families: quantizing a backbone, and copying a LoRA
model's weights into a plain clone (adapters merged into the kernels)."""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings


def quantize_backbone(backbone) -> None:
    """``backbone.quantize("int8")`` without Keras's per-layer warnings and collections."""
    with warnings.catch_warnings(), _one_collection():
        # Keras warns for every layer without a quantized form (norms, dropout, …).
        warnings.simplefilter("ignore", UserWarning)
        backbone.quantize("int8")


@contextlib.contextmanager
def _one_collection():
    """Keras runs a full ``gc.collect()`` each time quantizing drops a float kernel
    (``Layer.__delattr__``): ~0.6 s each with TensorFlow loaded, 8 s of a 2-layer model's
    10 s and most of a base model's minute. Within the block ``gc.collect`` does nothing;
    one collection runs at the end (frees the same float kernels)."""
    import gc

    collect = gc.collect
    gc.collect = lambda generation=2: 0
    try:
        yield
    finally:
        gc.collect = collect
        collect()


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
