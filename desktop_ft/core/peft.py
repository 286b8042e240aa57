"""Parameter-efficient fine-tuning that changes the model: LoRA and int8 + LoRA (BERT).

BitFit and two-phase training need no change to the model (the layer tree and
``train.fine_tune`` do them). LoRA adds adapter matrices beside the query and value
projections (``backbone.enable_lora``); QLoRA-style training first quantizes the
backbone's dense kernels to int8 (``backbone.quantize("int8")``, the head stays float)
and then adds LoRA. Both are one-way changes to a loaded model, so switching away from
them reloads the model from its source.

Example:
    >>> bundle = prepare_strategy(bundle, "lora", lora_rank=4)
    >>> bundle.tree.apply_strategy("lora")
    >>> save_adapters(bundle, "out/adapters.lora.h5")
"""

from __future__ import annotations

import threading
import warnings

from desktop_ft.core.errors import UserError
from desktop_ft.core.observer import Observer

VGG16_NO_LORA = ("LoRA and int8 quantization are offered for BERT only: VGG16's no-top "
                 "backbone has no Dense layers (only convolutions), and only the 'original' "
                 "head's fc1/fc2 would qualify. Use head, partial, full, bitfit or two-phase.")


def peft_state(bundle) -> dict:
    return bundle.parts.setdefault("peft", {"lora_rank": None, "quantized": None})


def prepare_strategy(bundle, strategy: str, lora_rank: int = 4,
                     observer: Observer | None = None,
                     stop: threading.Event | None = None):
    """Return a bundle whose model can run ``strategy`` (reloading when a one-way change
    has to be undone), with its tree rebuilt and set to the strategy."""
    observer = observer or Observer()
    state = peft_state(bundle)
    wants_lora = strategy in ("lora", "qlora")
    wants_int8 = strategy == "qlora"
    if wants_lora and bundle.family != "bert":
        raise UserError(VGG16_NO_LORA)
    if wants_lora and lora_rank < 1:
        raise UserError(f"--lora-rank must be at least 1, got {lora_rank}.")
    needs_reload = (
        (state["lora_rank"] is not None and (not wants_lora or state["lora_rank"] != lora_rank))
        or (state["quantized"] and not wants_int8)
        or (wants_int8 and not state["quantized"] and state["lora_rank"] is not None))
    if needs_reload:
        from desktop_ft.core.models.registry import load_model

        observer.on_status("Reloading the model to undo LoRA/quantization…")
        classes = bundle.classes
        bundle = load_model(bundle.spec, observer, stop)
        bundle.classes = classes
        state = peft_state(bundle)
    backbone = bundle.model.backbone if wants_lora else None
    if wants_int8 and not state["quantized"]:
        observer.on_status("Quantizing the backbone to int8…")
        with warnings.catch_warnings():
            # Keras warns for every layer without a quantized form (norms, dropout, …).
            warnings.simplefilter("ignore", UserWarning)
            backbone.quantize("int8")
        state["quantized"] = "int8"
    if wants_lora and state["lora_rank"] is None:
        observer.on_status(f"Adding LoRA adapters (rank {lora_rank}) to query and value…")
        backbone.enable_lora(lora_rank)
        state["lora_rank"] = lora_rank
    from desktop_ft.core.layer_tree import LayerTree

    old_strategy = bundle.tree.strategy if bundle.tree is not None else "custom"
    if wants_lora or needs_reload or bundle.tree is None:
        bundle.tree = LayerTree.from_bundle(bundle)
    bundle.tree.strategy = old_strategy
    return bundle


def lora_layers(model) -> list:
    return [l for l in model._flatten_layers() if getattr(l, "lora_enabled", False)]


def merged_model(bundle):
    """A copy of a LoRA model without adapter layers: kernels = W + (A·B)·(alpha/rank),
    loadable by plain Keras/keras-hub. Refused for an int8 backbone (merging would be
    lossy)."""
    import os
    import tempfile

    import keras_hub

    state = peft_state(bundle)
    if state["lora_rank"] is None:
        raise UserError("--merge-lora needs a model trained with the lora strategy.")
    if state["quantized"]:
        raise UserError("--merge-lora does not apply to qlora: the backbone is int8, so "
                        "merging adapters into it would lose precision. Export the SavedModel "
                        "(which keeps the adapters) instead.")
    model = bundle.model
    backbone = keras_hub.models.BertBackbone.from_config(model.backbone.get_config())
    clone = keras_hub.models.BertTextClassifier(
        backbone=backbone, num_classes=model.num_classes, preprocessor=model.preprocessor,
        activation=model.activation, dropout=model.dropout)
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


def save_adapters(bundle, path) -> int:
    """Write the LoRA matrices and the head's weights alone (``*.lora.h5``): what a
    LoRA fine-tune learned, a few hundred kB. Returns the bytes written."""
    import os

    import h5py
    import numpy as np

    if peft_state(bundle)["lora_rank"] is None:
        raise UserError("This model has no LoRA adapters to save.")
    with h5py.File(path, "w") as f:
        f.attrs["lora_rank"] = peft_state(bundle)["lora_rank"]
        f.attrs["format"] = "desktop_ft lora adapters v1"
        for layer in lora_layers(bundle.model):
            for v in (layer.lora_kernel_a, layer.lora_kernel_b):
                f[f"lora/{v.path}"] = np.asarray(v)
        for name in bundle.new_layers:
            for v in bundle.model.get_layer(name).weights:
                f[f"head/{v.path}"] = np.asarray(v)
    return os.path.getsize(path)


def load_adapters(bundle, path) -> None:
    """Load a ``*.lora.h5`` file into a model prepared with the same LoRA rank."""
    import h5py

    with h5py.File(path, "r") as f:
        rank = int(f.attrs["lora_rank"])
        if peft_state(bundle)["lora_rank"] != rank:
            raise UserError(f"{path} holds rank-{rank} adapters; prepare the model with "
                            f"--lora-rank {rank}.")
        variables = {v.path: v for layer in lora_layers(bundle.model)
                     for v in (layer.lora_kernel_a, layer.lora_kernel_b)}
        for name in bundle.new_layers:
            variables.update({v.path: v for v in bundle.model.get_layer(name).weights})
        for group in ("lora", "head"):
            def assign(key, item):
                if hasattr(item, "shape"):
                    if key not in variables:
                        raise UserError(f"{path}: no variable {key} in this model.")
                    variables[key].assign(item[()])
            f[group].visititems(assign)


def weights_bytes(model) -> tuple[int, int]:
    """(bytes of the model's weights as stored, bytes if every weight were float32)."""
    import numpy as np

    actual = float32 = 0
    for v in model.weights:
        n = int(np.prod(v.shape)) if v.shape else 1
        actual += n * np.dtype(str(v.dtype)).itemsize
        float32 += n * 4
    return actual, float32
