"""LoRA and int8 on a keras-hub text model: the one-way changes to a loaded model.

``backbone.enable_lora(rank)`` freezes the backbone and adds adapters beside every query
and value projection; ``backbone.quantize("int8")`` quantizes the dense kernels (the
classifier's own ``quantize`` fails before its tokenizer has run, and would also freeze
the head). A merged copy has the adapters folded into plain kernels.
"""

from __future__ import annotations

from desktop_ft.core.models.adapters import merged_copy, quantize_backbone


def add_lora(bundle, rank: int) -> None:
    bundle.model.backbone.enable_lora(rank)


def quantize_int8(bundle) -> None:
    quantize_backbone(bundle.model.backbone)


def merged_model(bundle):
    """A copy without adapter layers: kernels = W + (A·B)·(alpha/rank), loadable by plain
    Keras/keras-hub."""
    model = bundle.model
    config = model.get_config()
    kept = {k: v for k, v in config.items()
            if k in ("num_classes", "activation", "dropout", "hidden_dim")}
    return merged_copy(model, model.backbone,
                       lambda fresh: type(model)(backbone=fresh, preprocessor=None, **kept))
