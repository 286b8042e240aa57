"""Local checkpoint folders as timm and Hugging Face transformers write them, made offline
from a Keras backbone with random weights: ``config.json`` + ``model.safetensors`` under
the key names keras-hub's converters read (keras_hub/src/utils/timm/convert_resnet.py,
keras_hub/src/utils/transformers/convert_swin_transformer.py), PyTorch layouts
(convolutions ``[out, in, h, w]``, linear layers ``[out, in]``). Loading such a folder
must give back the source backbone's outputs."""

from __future__ import annotations

import json

import numpy as np

IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
# What keras-hub's timm converter builds for timm's "resnet18".
TIMM_RESNET18 = {"input_conv_filters": [64], "input_conv_kernel_sizes": [7],
                 "stackwise_num_filters": [64, 128, 256, 512],
                 "stackwise_num_blocks": [2, 2, 2, 2], "stackwise_num_strides": [1, 2, 2, 2],
                 "block_type": "basic_block", "use_pre_activation": False}


def _randomize_statistics(backbone, rng) -> None:
    """BatchNorm statistics away from 0/1, so a mix-up of them shows in the outputs."""
    for layer in backbone.layers:
        if type(layer).__name__ == "BatchNormalization":
            n = layer.moving_mean.shape[0]
            layer.moving_mean.assign(rng.normal(0, 0.1, n).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 1.5, n).astype("float32"))


def _conv(kernel) -> np.ndarray:
    return np.ascontiguousarray(np.transpose(np.asarray(kernel), (3, 2, 0, 1)))


def _linear(kernel) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(kernel).T)


def _save(folder, tensors: dict, config: dict) -> None:
    from safetensors.numpy import save_file

    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: np.asarray(v, np.float32) for k, v in tensors.items()},
              str(folder / "model.safetensors"), metadata={"format": "pt"})
    (folder / "config.json").write_text(json.dumps(config, indent=1))


def write_timm_resnet18(folder, num_classes: int = 3, seed: int = 0):
    """A timm ``resnet18`` folder; returns the Keras backbone its weights come from."""
    import keras_hub

    rng = np.random.default_rng(seed)
    backbone = keras_hub.models.ResNetBackbone(**TIMM_RESNET18)
    _randomize_statistics(backbone, rng)
    t = {}

    def conv(keras_name, key):
        t[f"{key}.weight"] = _conv(backbone.get_layer(keras_name).kernel)

    def bn(keras_name, key):
        layer = backbone.get_layer(keras_name)
        for suffix, var in (("weight", layer.gamma), ("bias", layer.beta),
                            ("running_mean", layer.moving_mean),
                            ("running_var", layer.moving_variance)):
            t[f"{key}.{suffix}"] = np.asarray(var)

    conv("conv1_conv", "conv1")
    bn("conv1_bn", "bn1")
    for s, blocks in enumerate(TIMM_RESNET18["stackwise_num_blocks"]):
        for b in range(blocks):
            keras_name, key = f"stack{s}_block{b}", f"layer{s + 1}.{b}"
            if b == 0 and s > 0:
                conv(f"{keras_name}_0_conv", f"{key}.downsample.0")
                bn(f"{keras_name}_0_bn", f"{key}.downsample.1")
            for i in (1, 2):
                conv(f"{keras_name}_{i}_conv", f"{key}.conv{i}")
                bn(f"{keras_name}_{i}_bn", f"{key}.bn{i}")
    t["fc.weight"] = rng.normal(0, 0.01, (num_classes, 512))
    t["fc.bias"] = np.zeros(num_classes)
    _save(folder, t, {
        "architecture": "resnet18", "num_classes": num_classes, "num_features": 512,
        "pretrained_cfg": {"input_size": [3, 224, 224], "interpolation": "bilinear",
                           "mean": IMAGENET_MEAN, "std": IMAGENET_STD,
                           "crop_pct": 0.95, "num_classes": num_classes}})
    return backbone


# A two-stage Swin: 32 px, 4 px patches, 4×4 windows.
TINY_SWIN_HF = {"image_size": 32, "patch_size": 4, "embed_dim": 8, "depths": [2, 2],
                "num_heads": [2, 2], "window_size": 4, "mlp_ratio": 4.0, "qkv_bias": True,
                "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0,
                "drop_path_rate": 0.1}


def write_hf_swin(folder, num_classes: int = 3, seed: int = 0):
    """A Hugging Face ``SwinForImageClassification`` folder (keys under ``swin.``, as
    transformers saves them) with its preprocessor_config.json; returns the Keras
    backbone its weights come from."""
    import keras_hub

    c = TINY_SWIN_HF
    rng = np.random.default_rng(seed)
    backbone = keras_hub.models.SwinTransformerBackbone(
        image_shape=(c["image_size"], c["image_size"], 3), patch_size=c["patch_size"],
        embed_dim=c["embed_dim"], depths=tuple(c["depths"]), num_heads=tuple(c["num_heads"]),
        window_size=c["window_size"], drop_path=c["drop_path_rate"])
    for v in backbone.weights:      # LayerNorm's 1/0 and zero biases would hide mix-ups
        v.assign(rng.normal(0, 0.2, v.shape).astype("float32"))
    t = {}

    def norm(layer, key):
        t[f"swin.{key}.weight"], t[f"swin.{key}.bias"] = np.asarray(layer.gamma), \
            np.asarray(layer.beta)

    def dense(layer, key):
        t[f"swin.{key}.weight"] = _linear(layer.kernel)
        if layer.bias is not None:
            t[f"swin.{key}.bias"] = np.asarray(layer.bias)

    embed = backbone.patch_embedding
    t["swin.embeddings.patch_embeddings.projection.weight"] = _conv(embed.proj.kernel)
    t["swin.embeddings.patch_embeddings.projection.bias"] = np.asarray(embed.proj.bias)
    norm(embed.norm, "embeddings.norm")
    for s, stage in enumerate(backbone.stages):
        for b, block in enumerate(stage.blocks):
            key = f"encoder.layers.{s}.blocks.{b}"
            norm(block.norm1, f"{key}.layernorm_before")
            norm(block.norm2, f"{key}.layernorm_after")
            qkv = _linear(block.attn.qkv.kernel)
            qkv_bias = np.asarray(block.attn.qkv.bias)
            for i, name in enumerate(("query", "key", "value")):
                rows = slice(i * qkv.shape[0] // 3, (i + 1) * qkv.shape[0] // 3)
                t[f"swin.{key}.attention.self.{name}.weight"] = qkv[rows]
                t[f"swin.{key}.attention.self.{name}.bias"] = qkv_bias[rows]
            t[f"swin.{key}.attention.self.relative_position_bias_table"] = np.asarray(
                block.attn.relative_position_bias_table)
            dense(block.attn.proj, f"{key}.attention.output.dense")
            dense(block.mlp.fc1, f"{key}.intermediate.dense")
            dense(block.mlp.fc2, f"{key}.output.dense")
        if stage.downsample is not None:
            key = f"encoder.layers.{s}.downsample"
            t[f"swin.{key}.reduction.weight"] = _linear(stage.downsample.reduction.kernel)
            norm(stage.downsample.norm, f"{key}.norm")
    norm(backbone.norm, "layernorm")
    width = c["embed_dim"] * 2 ** (len(c["depths"]) - 1)
    t["classifier.weight"] = rng.normal(0, 0.01, (num_classes, width))
    t["classifier.bias"] = np.zeros(num_classes)
    labels = {str(i): f"class_{i}" for i in range(num_classes)}
    _save(folder, t, {"model_type": "swin", "architectures": ["SwinForImageClassification"],
                      "num_channels": 3, "id2label": labels,
                      "label2id": {v: int(k) for k, v in labels.items()}, **c})
    (folder / "preprocessor_config.json").write_text(json.dumps({
        "image_processor_type": "ViTImageProcessor", "do_resize": True, "do_rescale": True,
        "rescale_factor": 1 / 255, "do_normalize": True, "image_mean": IMAGENET_MEAN,
        "image_std": IMAGENET_STD, "size": {"height": c["image_size"],
                                            "width": c["image_size"]}}))
    return backbone
