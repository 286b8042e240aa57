"""Model specs, the loaded-model bundle, and the family registry (name -> builder)."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field, fields

from desktop_ft.core.errors import UserError
from desktop_ft.core.observer import Observer

FAMILIES = ("vgg16", "bert")
AUGMENTATIONS = ("flip", "rotation", "zoom", "contrast")


@dataclass
class ModelSpec:
    """Everything needed to rebuild a model: the CLI flags, the GUI's model panel, a project.

    ``weights`` (VGG16) is ``imagenet``, ``none`` or a path to a ``.h5``/``.weights.h5``
    file. ``preset`` (BERT) is a keras-hub preset name, a keras-hub preset folder or a
    Hugging Face BERT folder.
    """

    family: str = "vgg16"
    weights: str = "imagenet"
    image_size: int = 224
    head: str = "gap"
    dropout: float = 0.2
    preset: str | None = None
    seq_len: int = 128
    num_classes: int = 2
    augment: list = field(default_factory=list)   # VGG16: flip, rotation, zoom, contrast
    precision: str = "auto"      # auto | float32 | mixed_float16 | mixed_bfloat16

    def __post_init__(self):
        self.family = self.family.lower()
        if self.family not in FAMILIES:
            raise UserError(f"Unknown model '{self.family}'. Choose one of: {', '.join(FAMILIES)}.")
        if self.family == "vgg16":
            if self.head not in ("gap", "original"):
                raise UserError(f"Unknown head '{self.head}'. Choose gap or original.")
            if self.head == "original" and self.image_size != 224:
                raise UserError("The original head (ImageNet's fc1/fc2 kept, predictions "
                                "replaced) needs --image-size 224; its Flatten layer is fixed "
                                f"to 7x7x512 features. Got {self.image_size}.")
            if self.image_size < 32:
                raise UserError(f"VGG16 needs images of at least 32x32 pixels, got "
                                f"{self.image_size}.")
        if self.family == "bert":
            if not self.preset:
                raise UserError("BERT needs --preset: a keras-hub preset name (e.g. "
                                "bert_tiny_en_uncased) or a local folder.")
            if self.seq_len < 8:
                raise UserError(f"--seq-len must be at least 8, got {self.seq_len}.")
        self.augment = list(self.augment or [])
        unknown = [a for a in self.augment if a not in AUGMENTATIONS]
        if unknown:
            raise UserError(f"Unknown augmentation {', '.join(unknown)}. Choose from: "
                            f"{', '.join(AUGMENTATIONS)}.")
        if self.augment and self.family != "vgg16":
            raise UserError("Data augmentation is offered for images (VGG16) only.")
        if self.num_classes < 2:
            raise UserError("A classifier needs at least 2 classes.")
        if not 0 <= self.dropout < 1:
            raise UserError(f"Dropout must be in [0, 1), got {self.dropout}.")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelSpec":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class ModelBundle:
    """A loaded model and what the app knows about it.

    ``model`` is the Keras model that is trained. For VGG16 it takes preprocessed float
    images (see ``vgg16.preprocess_uint8``); for BERT it is a ``BertTextClassifier``
    whose preprocessor tokenizes raw strings. ``new_layers`` names the freshly
    initialised layers (the head): the "head" strategy trains only these.
    """

    spec: ModelSpec
    model: object
    new_layers: set[str]
    weights_source: str
    parts: dict = field(default_factory=dict)   # family-specific pieces (base, backbone, ...)
    classes: list[str] | None = None
    tree: object = None

    @property
    def family(self) -> str:
        return self.spec.family

    @property
    def num_classes(self) -> int:
        return self.spec.num_classes

    @property
    def binary(self) -> bool:
        return self.spec.num_classes == 2

    def predict_proba(self, inputs, batch_size: int = 32):
        """Class probabilities ``[N, num_classes]`` in label order.

        ``inputs``: for VGG16 a list of ``uint8 [H, W, 3]`` arrays of any size; for BERT a
        list of strings.
        """
        return _family(self.family).predict_proba(self, inputs, batch_size)

    def with_num_classes(self, num_classes: int, classes: list[str] | None = None) -> "ModelBundle":
        """The same pretrained layers with a new head for ``num_classes`` classes.

        The layer tree's frozen/unfrozen choices are carried over by path.
        """
        if num_classes == self.num_classes:
            self.classes = classes or self.classes
            return self
        spec = ModelSpec.from_dict({**self.spec.to_dict(), "num_classes": num_classes})
        from desktop_ft.core import speed

        with speed.distribution_strategy().scope():
            bundle = _family(self.family).rebuild_head(self, spec)
        for key in ("peft", "precision"):
            if key in self.parts:
                bundle.parts[key] = self.parts[key]
        bundle.classes = classes
        from desktop_ft.core.layer_tree import LayerTree

        bundle.tree = LayerTree.from_bundle(bundle)
        if self.tree is not None:
            bundle.tree.copy_states_from(self.tree)
        return bundle


def to_class_probs(out, binary: bool):
    """A sigmoid unit ``[N, 1]`` → ``[N, 2]`` (1 − p, p); softmax output unchanged."""
    import numpy as np

    out = np.asarray(out, dtype=np.float32)
    if binary:
        return np.concatenate([1.0 - out, out], axis=-1)
    return out


def _family(name: str):
    if name == "vgg16":
        from desktop_ft.core.models import vgg16

        return vgg16
    from desktop_ft.core.models import bert

    return bert


def load_model(spec: ModelSpec, observer: Observer | None = None,
               stop: threading.Event | None = None) -> ModelBundle:
    """Build the model described by ``spec`` (downloading weights if needed).

    Raises :class:`UserError` with advice when weights cannot be had.
    """
    observer = observer or Observer()
    from desktop_ft.core import runtime, speed

    runtime.configure()
    policy, note = speed.apply_precision(spec.precision)
    if note:
        observer.on_status(note)
    # Variables must be created inside the distribution strategy's scope (several GPUs).
    with speed.distribution_strategy().scope():
        bundle = _family(spec.family).build(spec, observer, stop)
    bundle.parts["precision"] = policy
    from desktop_ft.core.layer_tree import LayerTree

    bundle.tree = LayerTree.from_bundle(bundle)
    return bundle
