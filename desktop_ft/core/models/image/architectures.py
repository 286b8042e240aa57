"""The image architectures: one row each, over ``keras.applications`` and keras-hub;
:class:`~.entry.ImageArchitecture` says what a row holds.

A row is data, read like a keras-hub preset: keyword fields grouped by what they serve.
*build* — the backbone (a ``keras.applications`` constructor or a keras-hub backbone
class), its preprocessing (one affine map per channel after an optional RGB→BGR flip,
what each ``preprocess_input`` does), its allowed and default image sizes, where its
pooled features are and where its weights come from; *tree* — how its layers group into
blocks; *facts* — what the picker shows (parameters of the no-top backbone, ImageNet
top-1 as Keras documents it, CPU speed measured by ``bench/image_backbones.py``).

keras-hub rows: one per ImageClassifier backbone of keras-hub 0.32 (presets from
``keras_hub/src/models/*/*_presets.py``). Their preprocessing is each preset's
ImageConverter (read when a preset loads); the row's is for ``--weights none``:
ImageNet mean/std (TORCH) for the timm- and Hugging-Face-converted networks, [-1, 1] for
ViT. Parameters are the backbone's ``count_params()`` at ``default_config`` (the first
preset's network; checked against ``desktop-ft layers --model NAME --weights none``).
keras-hub publishes no ImageNet top-1 for these presets, so the picker shows none.

Adding an architecture is one row here plus, for a keras-hub one, its tiny configuration
in tests/core/image_presets.py (see docs/ARCHITECTURE.md, "How to add an architecture").
"""

from __future__ import annotations

from desktop_ft.core.models.image.entry import CAFFE, RAW, TF, TORCH, ImageArchitecture

_KA = "https://storage.googleapis.com/tensorflow/keras-applications/"


def _ka(file, hash_, folder):
    return (file, f"{_KA}{folder}/{file}", hash_)


_VGG_BLOCKS = ((r"^(block\d+)_", r"\1"), (r"^(fc\d|flatten)$", "classifier"))
_RESNET_BLOCKS = ((r"^(conv\d)_", r"\1"), (r"^pool1_", "conv1"))   # post_bn: conv5
_MNV3_BLOCKS = ((r"^(expanded_conv_\d+)_", r"\1"), (r"^expanded_conv_", "expanded_conv_0"),
                (r"^conv_1", "top"), (r"^(conv|conv_bn)$", "stem"), (r"^rescaling", ""))
_TRANSFORMER_BLOCKS = ((r"^(transformer_block_\d+)$", r"\1"),
                       (r"patching_and_embedding", "embeddings"), (r"^ln$", "top"))
# EfficientNet's block names, in keras.applications and keras-hub alike.
EFFNET_BLOCKS = ((r"^(block(\d+))([a-z])_", r"\1/\1\3"), (r"^stem_", "stem"),
                 (r"^top_", "top"), (r"^(rescaling|normalization)", ""))
# EfficientNet-B0 as keras-hub converts timm's efficientnet_b0 (its presets' source).
EFFNET_B0 = {
    "stackwise_width_coefficients": [1.0] * 7, "stackwise_depth_coefficients": [1.0] * 7,
    "stackwise_kernel_sizes": [3, 3, 5, 3, 5, 5, 3],
    "stackwise_num_repeats": [1, 2, 2, 3, 3, 4, 1],
    "stackwise_input_filters": [32, 16, 24, 40, 80, 112, 192],
    "stackwise_output_filters": [16, 24, 40, 80, 112, 192, 320],
    "stackwise_expansion_ratios": [1, 6, 6, 6, 6, 6, 6],
    "stackwise_squeeze_and_excite_ratios": [0.25] * 7,
    "stackwise_strides": [1, 2, 2, 2, 1, 2, 1], "stackwise_block_types": ["v1"] * 7,
    "min_depth": None, "include_stem_padding": True, "use_depth_divisor_as_min_depth": True,
    "cap_round_filter_decrease": True, "stem_conv_padding": "valid",
    "batch_norm_momentum": 0.9, "batch_norm_epsilon": 1e-5, "dropout": 0,
    "projection_activation": None}
# MobileNetV3-Small 1.0 as keras-hub converts timm's mobilenetv3_small_100.
MOBILENET_V3_SMALL = {
    "stackwise_num_blocks": [2, 3, 2, 3],
    "stackwise_expansion": [[72, 88], [96, 240, 240], [120, 144], [288, 576, 576]],
    "stackwise_num_filters": [[24, 24], [40, 40, 40], [48, 48], [96, 96, 96]],
    "stackwise_kernel_size": [[3, 3], [5, 5, 5], [5, 5], [5, 5, 5]],
    "stackwise_num_strides": [[2, 1], [2, 1, 1], [1, 1], [2, 1, 1]],
    "stackwise_se_ratio": [[None, None], [0.25] * 3, [0.25] * 2, [0.25] * 3],
    "stackwise_activation": [["relu", "relu"], ["hard_swish"] * 3, ["hard_swish"] * 2,
                             ["hard_swish"] * 3],
    "stackwise_padding": [[1, 1], [2, 2, 2], [2, 2], [2, 2, 2]],
    "output_num_filters": 1024, "input_num_filters": 16, "depthwise_filters": 16,
    "depthwise_stride": 2, "depthwise_residual": False, "squeeze_and_excite": 0.5,
    "last_layer_filter": 576, "input_activation": "hard_swish",
    "output_activation": "hard_swish"}


ARCHITECTURES: dict[str, ImageArchitecture] = {a.name: a for a in (
    # ---------------------------------------------------------- keras.applications
    ImageArchitecture(
        name="vgg16",
        source="keras.applications", builder="VGG16", preprocessing=CAFFE,
        imagenet=_ka("vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
                     "6d6bbae143d832006294945121d1f1fc", "vgg16"),
        imagenet_top=_ka("vgg16_weights_tf_dim_ordering_tf_kernels.h5",
                         "64373286793e3c8b2b4e3219cbf3544b", "vgg16"),
        signature="block5_conv3",
        blocks=_VGG_BLOCKS, chain=True, has_bn=False,
        title="VGG16 — images", short="VGG16", params=14_714_688, top1=71.3, speed=3.8),
    ImageArchitecture(
        name="vgg19",
        source="keras.applications", builder="VGG19", preprocessing=CAFFE,
        imagenet=_ka("vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
                     "253f8cb515780f3b799900260a226db6", "vgg19"),
        imagenet_top=_ka("vgg19_weights_tf_dim_ordering_tf_kernels.h5",
                         "cbe5617147190e668d6c5d5026f83318", "vgg19"),
        signature="block5_conv4",
        blocks=_VGG_BLOCKS, chain=True, has_bn=False,
        title="VGG19 — images", short="VGG19", params=20_024_384, top1=71.3, speed=2.0),
    ImageArchitecture(
        name="resnet50_v2",
        source="keras.applications", builder="ResNet50V2", preprocessing=TF,
        imagenet=_ka("resnet50v2_weights_tf_dim_ordering_tf_kernels_notop.h5",
                     "fac2f116257151a9d068a22e544a4917", "resnet"),
        signature="conv2_block1_preact_bn",
        blocks=_RESNET_BLOCKS,
        title="ResNet50V2 — images", short="ResNet50V2", params=23_564_800, top1=76.0,
        speed=9.2),
    ImageArchitecture(
        name="mobilenet_v2",
        source="keras.applications", builder="MobileNetV2", preprocessing=TF,
        imagenet=_ka("mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5",
                     None, "mobilenet_v2"),
        signature="bn_Conv1",
        blocks=((r"^(block_\d+)_", r"\1"), (r"^expanded_conv_", "block_0"),
                (r"^(Conv_1|out_relu)", "top"), (r"^(Conv1|bn_Conv1)", "stem")),
        title="MobileNetV2 — images", short="MobileNetV2", params=2_257_984, top1=71.3,
        speed=26.9),
    ImageArchitecture(
        name="mobilenet_v3_small",
        source="keras.applications", builder="MobileNetV3Small", preprocessing=RAW,
        imagenet=_ka("weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5",
                     "d3e8ec802a04aa4fc771ee12a9a9b836", "mobilenet_v3"),
        signature="expanded_conv_depthwise_bn",
        blocks=_MNV3_BLOCKS,
        title="MobileNetV3-Small — images", short="MobileNetV3-Small", params=939_120,
        top1=68.1, speed=88.9),
    ImageArchitecture(
        name="mobilenet_v3_large",
        source="keras.applications", builder="MobileNetV3Large", preprocessing=RAW,
        imagenet=_ka("weights_mobilenet_v3_large_224_1.0_float_no_top_v2.h5",
                     "07fb09a5933dd0c8eaafa16978110389", "mobilenet_v3"),
        signature="expanded_conv_depthwise_bn",
        blocks=_MNV3_BLOCKS,
        title="MobileNetV3-Large — images", short="MobileNetV3-Large", params=2_996_352,
        top1=75.6, speed=35.3),
    *(ImageArchitecture(
        name=f"efficientnet_v2_b{i}",
        source="keras.applications", builder=f"EfficientNetV2B{i}", preprocessing=RAW,
        default_size=size,
        imagenet=_ka(f"efficientnetv2-b{i}_notop.h5", hash_, "efficientnet_v2"),
        signature="block1a_project_conv",
        blocks=EFFNET_BLOCKS,
        title=f"EfficientNetV2-B{i} — images", short=f"EfficientNetV2-B{i}", params=params,
        top1=top1, speed=speed)
      for i, hash_, params, top1, size, speed in (
          (0, "893217f2bb855e2983157299931e43ff", 5_919_312, 78.7, 224, 21.5),
          (1, "0e80663031ca32d657f9caa404b6ec37", 6_931_124, 79.8, 240, 20.7),
          (2, "1dfe2e7a5d45b6632553a8961ea609eb", 8_769_374, 80.5, 260, 17.3),
          (3, "f6abf7b5849ac99a89b50dd3fd532856", 12_930_622, 82.0, 300, 11.9))),
    ImageArchitecture(
        name="convnext_tiny",
        source="keras.applications", builder="ConvNeXtTiny", preprocessing=RAW,
        imagenet=_ka("convnext_tiny_notop.h5",
                     "d547c096cabd03329d7be5562c5e14798aa39ed24b474157cef5e85ab9e49ef1",
                     "convnext"),
        signature="convnext_tiny_stem",
        blocks=((r"_stage_(\d+)_block_(\d+)_", r"stage_\1/block_\2"), (r"_downsampling_", ""),
                (r"_(prestem|stem)", "stem"), (r"^layer_normalization$", "top")),
        has_bn=False,
        title="ConvNeXt-Tiny — images", short="ConvNeXt-Tiny", params=27_820_128, top1=81.3,
        speed=1.3),
    ImageArchitecture(
        name="densenet121",
        source="keras.applications", builder="DenseNet121", preprocessing=TORCH,
        imagenet=_ka("densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5",
                     "30ee3e1110167f948a6b9946edeeb738", "densenet"),
        signature="conv5_block16_1_bn",
        blocks=((r"^(conv\d)_", r"\1"), (r"^pool1$", "conv1")),     # the final bn: conv5
        title="DenseNet121 — images", short="DenseNet121", params=7_037_504, top1=75.0,
        speed=8.4),
    ImageArchitecture(
        name="xception",
        source="keras.applications", builder="Xception", preprocessing=TF,
        default_size=299, min_size=71,
        imagenet=_ka("xception_weights_tf_dim_ordering_tf_kernels_notop.h5",
                     "b0042744bf5b25fce3cb969f33bebb97", "xception"),
        signature="block1_conv1_bn",
        blocks=((r"^(block\d+)_", r"\1"),),
        title="Xception — images", short="Xception", params=20_861_480, top1=79.0,
        speed=7.4),
    # ------------------------------------------------------------------ keras-hub
    ImageArchitecture(
        name="vit",
        source="keras_hub", builder="ViTBackbone", preprocessing=TF,
        fixed_size=True, pooling="avg1d",
        presets=("vit_base_patch16_224_imagenet", "vit_base_patch16_224_imagenet21k",
                 "vit_large_patch16_224_imagenet"),
        default_config={"image_shape": (224, 224, 3), "patch_size": 16, "num_layers": 12,
                        "num_heads": 12, "hidden_dim": 768, "mlp_dim": 3072,
                        "use_mha_bias": True},
        hf_model_types=("vit",), signature="vit_patching_and_embedding",
        lora_targets=("query", "value"),
        blocks=_TRANSFORMER_BLOCKS, has_bn=False, expand=("ViTEncoder",),
        title="ViT (keras-hub) — images", short="ViT (keras-hub)", params=85_798_656),
    ImageArchitecture(
        name="deit",
        source="keras_hub", builder="DeiTBackbone", preprocessing=TORCH,
        fixed_size=True, pooling="avg1d",
        presets=("deit_tiny_distilled_patch16_224_imagenet",
                 "deit_small_distilled_patch16_224_imagenet",
                 "deit_base_distilled_patch16_224_imagenet"),
        default_config={"image_shape": (224, 224, 3), "patch_size": 16, "num_layers": 12,
                        "num_heads": 12, "hidden_dim": 768, "intermediate_dim": 3072},
        hf_model_types=("deit",), signature="deit_patching_and_embedding",
        lora_targets=("query", "value"),
        blocks=_TRANSFORMER_BLOCKS, has_bn=False, expand=("DeiTEncoder",),
        title="DeiT (keras-hub) — images", short="DeiT (keras-hub)", params=85_800_192),
    ImageArchitecture(
        name="swin",
        source="keras_hub", builder="SwinTransformerBackbone", preprocessing=TORCH,
        fixed_size=True, pooling="avg1d",
        presets=("swin_tiny_patch4_window7_224", "swin_small_patch4_window7_224",
                 "swin_base_patch4_window7_224", "swin_base_patch4_window12_384",
                 "swin_large_patch4_window7_224", "swin_large_patch4_window12_384"),
        default_config={"image_shape": (224, 224, 3), "patch_size": 4, "embed_dim": 96,
                        "depths": (2, 2, 6, 2), "num_heads": (3, 6, 12, 24),
                        "window_size": 7, "mlp_ratio": 4.0, "qkv_bias": True,
                        "drop_path": 0.1},
        hf_model_types=("swin",), lora_targets=("attention_qkv",),
        # The final norm joins the last stage: "partial" then trains more than a norm.
        blocks=((r"^(stage_\d+)$", r"\1"), (r"^(patch_embedding|pos_drop)$", "embeddings")),
        has_bn=False,
        title="Swin Transformer (keras-hub) — images", short="Swin Transformer (keras-hub)",
        params=27_519_354, speed=7.4),
    ImageArchitecture(
        name="resnet",
        source="keras_hub", builder="ResNetBackbone", preprocessing=TORCH,
        presets=("resnet_18_imagenet", "resnet_50_imagenet", "resnet_101_imagenet",
                 "resnet_152_imagenet", "resnet_v2_50_imagenet", "resnet_v2_101_imagenet",
                 "resnet_vd_18_imagenet", "resnet_vd_34_imagenet", "resnet_vd_50_imagenet",
                 "resnet_vd_50_ssld_imagenet", "resnet_vd_50_ssld_v2_imagenet",
                 "resnet_vd_50_ssld_v2_fix_imagenet", "resnet_vd_101_imagenet",
                 "resnet_vd_101_ssld_imagenet", "resnet_vd_152_imagenet",
                 "resnet_vd_200_imagenet"),
        default_config={"input_conv_filters": [64], "input_conv_kernel_sizes": [7],
                        "stackwise_num_filters": [64, 128, 256, 512],
                        "stackwise_num_blocks": [3, 4, 6, 3],
                        "stackwise_num_strides": [1, 2, 2, 2],
                        "block_type": "bottleneck_block", "use_pre_activation": False},
        timm_architectures=("resnet",),
        # ResNetV2's post_bn joins the last stage (a group of BatchNorm alone would
        # not train under "partial").
        blocks=((r"^(stack\d+)_(block\d+)_", r"\1/\2"), (r"^(conv\d|pool1)_", "stem")),
        title="ResNet (keras-hub) — images", short="ResNet (keras-hub)", params=23_561_152,
        speed=12.6),
    ImageArchitecture(
        name="efficientnet",
        source="keras_hub", builder="EfficientNetBackbone", preprocessing=TORCH,
        presets=("efficientnet_b0_ra_imagenet", "efficientnet_b0_ra4_e3600_r224_imagenet",
                 "efficientnet_b1_ft_imagenet", "efficientnet_b1_ra4_e3600_r240_imagenet",
                 "efficientnet_b2_ra_imagenet", "efficientnet_b3_ra2_imagenet",
                 "efficientnet_b4_ra2_imagenet", "efficientnet_b5_sw_imagenet",
                 "efficientnet_b5_sw_ft_imagenet", "efficientnet_el_ra_imagenet",
                 "efficientnet_em_ra2_imagenet", "efficientnet_es_ra_imagenet",
                 "efficientnet2_rw_m_agc_imagenet", "efficientnet2_rw_s_ra2_imagenet",
                 "efficientnet2_rw_t_ra2_imagenet", "efficientnet_lite0_ra_imagenet"),
        default_config=EFFNET_B0, timm_architectures=("efficientnet",),
        blocks=EFFNET_BLOCKS,
        title="EfficientNet (keras-hub) — images", short="EfficientNet (keras-hub)",
        params=4_049_564, speed=31.0),
    ImageArchitecture(
        name="mobilenet",
        source="keras_hub", builder="MobileNetBackbone", preprocessing=TORCH,
        presets=("mobilenet_v3_small_100_imagenet", "mobilenet_v3_small_050_imagenet",
                 "mobilenet_v3_large_100_imagenet", "mobilenet_v3_large_100_imagenet_21k"),
        default_config=MOBILENET_V3_SMALL, timm_architectures=("mobilenetv3",),
        blocks=((r"^(block_\d+)_\d+$", r"\1"), (r"^(input_|activation$)", "stem")),
        title="MobileNetV3 (keras-hub) — images", short="MobileNetV3 (keras-hub)",
        params=939_120, speed=18.6),
    ImageArchitecture(
        name="densenet",
        source="keras_hub", builder="DenseNetBackbone", preprocessing=TORCH,
        presets=("densenet_121_imagenet", "densenet_169_imagenet", "densenet_201_imagenet"),
        default_config={"stackwise_num_repeats": [6, 12, 24, 16], "compression_ratio": 0.5,
                        "growth_rate": 32},
        timm_architectures=("densenet",),
        blocks=((r"^(stack\d+)_(block\d+)_", r"\1/\2"),
                (r"^transition(\d+)_", r"stack\1/transition"),
                (r"^(conv1_|pool1$)", "stem")),            # the final bn: the last stack
        title="DenseNet (keras-hub) — images", short="DenseNet (keras-hub)",
        params=7_037_504, speed=14.6),
)}
