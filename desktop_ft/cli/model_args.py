"""The model flags shared by every command that builds a model."""

from __future__ import annotations


def spec_from_args(args, base: dict | None = None):
    """The ModelSpec the model flags (--model, --weights, --image-size …) describe, over
    ``base`` (a project's model), with the architecture's defaults for the rest."""
    from desktop_ft.core.models import ModelSpec, check_spec, modality_for

    d = dict(base or {})
    for key, attr in (("architecture", "model"), ("weights", "weights"),
                      ("image_size", "image_size"), ("head", "head"), ("preset", "preset"),
                      ("seq_len", "seq_len"), ("precision", "precision"),
                      ("augment_strength", "augment_strength")):
        value = getattr(args, attr, None)
        if value is not None:
            d[key] = value
    if getattr(args, "train_bn", None):
        d["train_bn"] = True
    if getattr(args, "augment", None) is not None:
        d["augment"] = [a.strip() for a in args.augment.split(",") if a.strip()]
    if "num_classes" in vars(args) and args.num_classes is not None:
        d["num_classes"] = args.num_classes
    # The network's own defaults (its input size …) for what was not given.
    modality = modality_for(d.get("architecture", ModelSpec().architecture))
    for key, value in modality.spec_defaults().items():
        d.setdefault(key, value)
    return check_spec(ModelSpec.from_dict(d))
