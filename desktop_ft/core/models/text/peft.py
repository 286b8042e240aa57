"""LoRA and int8 on a keras-hub text model: the one-way changes to a loaded model.

``backbone.enable_lora(rank)`` freezes the backbone and adds adapters beside every query
and value projection; ``backbone.quantize("int8")`` quantizes the dense kernels (the
classifier's own ``quantize`` fails before its tokenizer has run, and would also freeze
the head). A merged copy has the adapters folded into plain kernels.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings


def add_lora(bundle, rank: int) -> None:
    bundle.model.backbone.enable_lora(rank)


def quantize_int8(bundle) -> None:
    with warnings.catch_warnings(), _one_collection():
        # Keras warns for every layer without a quantized form (norms, dropout, …).
        warnings.simplefilter("ignore", UserWarning)
        bundle.model.backbone.quantize("int8")


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


def merged_model(bundle):
    """A copy without adapter layers: kernels = W + (A·B)·(alpha/rank), loadable by plain
    Keras/keras-hub."""
    model = bundle.model
    backbone = type(model.backbone).from_config(model.backbone.get_config())
    config = model.get_config()
    config.pop("backbone", None)
    config.pop("preprocessor", None)
    clone = type(model)(backbone=backbone, preprocessor=None,
                        **{k: v for k, v in config.items()
                           if k in ("num_classes", "activation", "dropout", "hidden_dim")})
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
    return clone
