"""What one image architecture is, as data: :class:`ImageArchitecture`, and the
per-channel preprocessings the rows share (:data:`CAFFE`, :data:`TF`, :data:`TORCH`,
:data:`RAW`). The rows themselves are in :mod:`.architectures`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# (scale, offset, bgr): model input = (x[..., ::-1] if bgr else x) * scale + offset
CAFFE = ((1.0, 1.0, 1.0), (-103.939, -116.779, -123.68), True)
TF = ((1 / 127.5,) * 3, (-1.0,) * 3, False)
TORCH = (tuple(1 / (255.0 * s) for s in (0.229, 0.224, 0.225)),
         tuple(-m / s for m, s in zip((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))), False)
RAW = ((1.0,) * 3, (0.0,) * 3, False)          # the model normalizes inside


@dataclass(frozen=True, kw_only=True)
class ImageArchitecture:
    """One image architecture: a row of :data:`.architectures.ARCHITECTURES`, keyword
    fields in three groups — how to build it, how its layers form the tree, and the
    facts the picker and ``desktop-ft models`` show."""

    name: str                      # CLI name (snake_case), the row's key
    # --- build: the backbone, its input, and the checkpoints it loads
    source: str                    # "keras.applications" | "keras_hub"
    builder: str                   # keras.applications.<builder> or keras_hub.models.<builder>
    preprocessing: tuple           # (scale, offset, bgr), see above
    default_size: int = 224
    min_size: int = 32
    fixed_size: bool = False       # positional embeddings fix the size (ViT)
    pooling: str = "avg2d"         # "avg2d" (feature map) | "avg1d" (tokens)
    imagenet: tuple | None = None  # (file, url, hash) of the no-top ImageNet weights
    imagenet_top: tuple | None = None   # (file, url, hash) with fc1/fc2 ("original" head)
    presets: tuple = ()            # keras-hub preset names
    default_config: dict = field(default_factory=dict)   # keras-hub, --weights none
    hf_model_types: tuple = ()     # config.json "model_type" values of its HF folders
    timm_architectures: tuple = ()  # prefixes of a timm config.json's "architecture"
    signature: str = ""            # a weighted layer only this network names so
    lora_targets: tuple = ()       # names of the Dense/EinsumDense layers LoRA adapts
    # --- tree: how backbone layers group into rows
    blocks: tuple                  # ((regex, group), ...): a layer's tree group by name
    chain: bool = False            # the backbone is one chain: its layers are flattened
    has_bn: bool = True            # BatchNormalization layers (kept frozen by default)
    expand: tuple = ()             # container layers whose sublayers are tree rows
    # --- facts shown to users
    title: str                     # the picker's line
    short: str                     # the network's name in messages ("VGG16")
    params: int                    # of the no-top backbone at the default size
    top1: float | None = None      # ImageNet top-1 (%), as Keras documents it
    speed: float | None = None     # images/s, inference at 224 px, 2-core CPU (bench/)

    @property
    def offers_lora(self) -> bool:
        """Dense/EinsumDense layers to adapt: transformers."""
        return bool(self.lora_targets)

    @property
    def original_head(self) -> bool:
        return self.imagenet_top is not None

    # --- facts the window shows, derived from the fields above
    @property
    def unit_name(self) -> str:
        """What "the last N …" counts in the layers panel."""
        return "layers" if self.offers_lora else "blocks"

    @property
    def weights_choices(self) -> tuple:
        """(ModelSpec.weights value or "file", label) for the Weights box."""
        if not self.imagenet:
            return ()
        return (("imagenet", "ImageNet (downloads once)"),
                ("file", "From file… (weights or a saved model)"),
                ("none", "None (random initialisation)"))

    @property
    def head_choices(self) -> tuple:
        """(ModelSpec.head value, label) for the Head box."""
        return (("gap", "New head on pooled features (any size)"),) + (
            (("original", f"Keep fc1/fc2, replace output ({self.default_size} px)"),)
            if self.original_head else ())

    def group_of(self, layer_name: str) -> str | None:
        """The tree group a backbone layer belongs to; ``None``: the group of the layer
        before it; ``""``: the group of the layer after it."""
        for pattern, group in self.blocks:
            m = re.search(pattern, layer_name)
            if m:
                return m.expand(group) if group else ""
        return None

    def describe(self) -> str:
        top1 = f"{self.top1:.1f} %" if self.top1 is not None else "—"
        return f"{self.params / 1e6:.1f} M params · ImageNet top-1 {top1}" + (
            f" · {self.speed:.0f} img/s (CPU)" if self.speed else "")
