"""What LoRA models share whatever their modality: the adapters file and weight sizes.

A LoRA fine-tune's adapters and head alone go into ``adapters.lora.h5`` (a few hundred
kB) and can be loaded back into a model prepared with the same rank. Adding adapters or
quantizing is the modality's (``Modality.add_lora`` / ``quantize_int8``), undoing them is
a reload (:func:`desktop_ft.core.training.strategy.prepare_strategy`).

Example:
    >>> bundle = prepare_strategy(bundle, "lora", lora_rank=4)
    >>> save_adapters(bundle, "out/adapters.lora.h5")
"""

from __future__ import annotations

from desktop_ft.core import compat
from desktop_ft.core.errors import UserError


def lora_layers(model) -> list:
    return [l for l in compat.all_layers(model) if getattr(l, "lora_enabled", False)]


def merged_model(bundle):
    """A copy of a LoRA model with the adapters merged into its kernels (no LoRA layers),
    loadable by plain Keras. Refused for an int8 backbone (merging would be lossy)."""
    state = bundle.peft()
    if state["lora_rank"] is None:
        raise UserError("--merge-lora needs a model trained with the lora strategy.")
    if state["quantized"]:
        raise UserError("--merge-lora does not apply to qlora: the backbone is int8, so "
                        "merging adapters into it would lose precision. Export the SavedModel "
                        "(which keeps the adapters) instead.")
    return bundle.modality.merged_model(bundle)


def save_adapters(bundle, path) -> int:
    """Write the LoRA matrices and the head's weights alone (``*.lora.h5``): what a
    LoRA fine-tune learned, a few hundred kB. Returns the bytes written."""
    import os

    import h5py
    import numpy as np

    if bundle.peft()["lora_rank"] is None:
        raise UserError("This model has no LoRA adapters to save.")
    with h5py.File(path, "w") as f:
        f.attrs["lora_rank"] = bundle.peft()["lora_rank"]
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
        if bundle.peft()["lora_rank"] != rank:
            raise UserError(f"{path} holds rank-{rank} adapters; prepare the model with "
                            f"--lora-rank {rank}.",
                            window_message=f"{path} holds rank-{rank} adapters; set rank "
                            f"{rank} beside LoRA on the Layers tab and press LoRA again.")
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
