"""What every modality shares: the spec, the loaded bundle, and the Modality interface.

The vocabulary (docs/ARCHITECTURE.md): a *modality* (``image``, ``text``) is one package
under ``desktop_ft/core/models`` that knows how to build, preprocess or tokenize, and
explain — a :class:`Modality` subclass; an *architecture* (VGG16, BERT …) is one row of a
modality's table, named by ``ModelSpec.architecture``; ``registry.ARCHITECTURES`` maps each
architecture's name to the modality object bound to its row; a *model* is what gets built
(:class:`ModelBundle`). Code outside ``core/models`` never asks which architecture it has:
it calls the modality's hooks (``bundle.modality``) or reads its attributes
(``input_kind``, ``spec_fields`` …). See docs/ARCHITECTURE.md, "How to add an architecture".
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field, fields

from desktop_ft.core.errors import UserError
from desktop_ft.core.observer import Observer
from desktop_ft.core.models.decision import Decision
from desktop_ft.core.models.shared import to_class_probs, predict_batch


@dataclass
class ModelSpec:
    """Everything needed to rebuild a model: the CLI flags, the window's model panel, a
    project file. Fields a modality does not use (see :attr:`Modality.spec_fields`) are
    ignored by it. Modality-specific checks run in ``registry.check_spec``.

    ``weights`` (images) is ``imagenet``, ``none`` or a path to a weights file or a saved
    model holding the backbone. ``preset`` (text, keras-hub images) is a keras-hub preset
    name, a keras-hub preset folder or a Hugging Face folder. ``train_bn`` lets the
    BatchNormalization layers of unfrozen blocks train (they stay frozen by default).
    """

    architecture: str = "vgg16"
    weights: str = "imagenet"
    image_size: int = 224
    head: str = "gap"
    dropout: float = 0.2
    preset: str | None = None
    seq_len: int = 128
    num_classes: int = 2
    augment: list = field(default_factory=list)
    augment_strength: float = 1.0  # scales rotation, zoom and contrast (flip is on or off)
    precision: str = "auto"      # auto | float32 | mixed_float16 | mixed_bfloat16
    train_bn: bool = False
    multi_label: bool = False    # one sigmoid per label (several labels per example)

    def __post_init__(self):
        self.architecture = str(self.architecture).lower()
        self.augment = list(self.augment or [])
        if self.num_classes < (1 if self.multi_label else 2):
            raise UserError("A classifier needs at least 2 classes." if not self.multi_label
                            else "A multi-label classifier needs at least 1 label.")
        if not 0 <= self.dropout < 1:
            raise UserError(f"Dropout must be in [0, 1), got {self.dropout}.")

    def to_dict(self) -> dict:
        return asdict(self)

    def output_units(self) -> tuple[int, str]:
        """(units, activation) of the head's output layer, the one rule every
        architecture's head follows: one sigmoid per label for multi-label, one sigmoid
        for two classes, a softmax over more."""
        if self.multi_label:
            return self.num_classes, "sigmoid"
        if self.num_classes == 2:
            return 1, "sigmoid"
        return self.num_classes, "softmax"

    @staticmethod
    def upgrade_dict(d: dict) -> dict:
        """``d`` with the keys of files written before issue 35's vocabulary read as
        today's: a project file's, run.json's or export.json's ``"family"`` (the
        architecture's name) is ``"architecture"``. The one place old keys are read."""
        d = dict(d)
        if "family" in d:
            d.setdefault("architecture", d.pop("family"))
            d.pop("family", None)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ModelSpec":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in cls.upgrade_dict(d).items() if k in names})

    def replace(self, **changes) -> "ModelSpec":
        return ModelSpec.from_dict({**self.to_dict(), **changes})


@dataclass
class ModelBundle:
    """A loaded model and what the app knows about it.

    ``model`` is the Keras model that is trained. ``new_layers`` names the freshly
    initialised layers (the head): the "head" strategy trains only these.
    ``modality`` is the :class:`Modality` that built it; ``parts`` holds its
    modality-specific pieces (the VGG16 base, the BERT backbone …) and the PEFT state.
    """

    spec: ModelSpec
    model: object
    new_layers: set[str]
    weights_source: str
    modality: "Modality"
    parts: dict = field(default_factory=dict)
    classes: list[str] | None = None
    tree: object = None
    # How probabilities become answers: calibration, per-label thresholds, "unknown".
    decision: Decision = field(default_factory=Decision)

    def __post_init__(self):
        # A multi-label head answers through per-label thresholds (0.5 until fitted).
        if self.spec.multi_label != self.decision.multi_label:
            self.decision = Decision(multi_label=self.spec.multi_label)

    @property
    def architecture(self) -> str:
        return self.spec.architecture

    @property
    def input_kind(self) -> str:
        return self.modality.input_kind

    @property
    def num_classes(self) -> int:
        return self.spec.num_classes

    @property
    def multi_label(self) -> bool:
        return self.spec.multi_label

    @property
    def binary(self) -> bool:
        """One sigmoid unit for two classes (a multi-label head has one per label)."""
        return self.spec.num_classes == 2 and not self.spec.multi_label

    def predict_proba(self, inputs, batch_size: int = 32):
        """Class probabilities ``[N, num_classes]`` in label order, from raw inputs
        (``uint8 [H, W, 3]`` arrays of any size, or strings — see ``input_kind``)."""
        return self.modality.predict_proba(self, inputs, batch_size)

    def peft(self) -> dict:
        """``{"lora_rank": int | None, "quantized": str | None}`` for this model."""
        return self.parts.setdefault("peft", {"lora_rank": None, "quantized": None})


class Modality(ABC):
    """The interface of a modality. Subclass it in ``core/models/<name>/``; one object
    of the subclass is bound to each row of its architecture table (``arch``).

    Methods are the hooks the engine calls; attributes are what the engine and the front
    ends need to know to call them (input kind, spec fields, learning rates …). The
    abstract ones every modality implements; the others have defaults that suit a
    modality without PEFT, a feature cache or ONNX/LiteRT exports. What the window shows
    (title, short name, the Weights and Head boxes' labels, what "the last N" counts) is
    the row's facts, ``arch``; ``title``, ``short`` and ``presets`` are read from it.
    """

    def __init__(self, arch):
        self.arch = arch                # the architecture row this object serves

    @property
    def name(self) -> str:
        return self.arch.name

    @property
    def title(self) -> str:             # shown in the model picker
        return self.arch.title

    @property
    def short(self) -> str:             # the network's name in messages ("VGG16")
        return self.arch.short

    @property
    def presets(self) -> tuple:         # well-known names for ModelSpec.preset
        return self.arch.presets

    input_kind: str = "images"          # "images" | "text": what the data must hold
    spec_fields: tuple = ()             # ModelSpec fields this modality uses
    augmentations: tuple = ()           # names ModelSpec.augment accepts
    lora_unavailable: str | None = None  # why LoRA is not offered (None: it is)
    finetune_lr: float = 1e-4           # default when many weights train
    few_params_lr: float = 1e-3         # default when few weights train (head, adapters)
    optimizer: str = "adam"
    # (schedule, warm-up fraction) when the job names none (core/training/schedules.py).
    # Constant for both modalities, measured: on real tasks over seeds (BENCHMARKS.md,
    # "Schedules"), cosine lost to constant for images and linear after 10 % warm-up did
    # not beat it for text; tests/core/test_schedule_defaults.py holds the two together.
    schedule: tuple = ("constant", 0.0)

    min_image_size: int = 1

    def spec_defaults(self) -> dict:
        """ModelSpec values this network starts from when it is picked (its input size,
        its weights …)."""
        return {}

    def offline_fallback(self, spec: ModelSpec) -> tuple[ModelSpec, str] | None:
        """(a spec that needs no download, a note saying so) when ``spec``'s weights must
        be downloaded — for the built-in sample, which must train offline; else None."""
        return None

    def table_row(self) -> dict:
        """This network's line in ``desktop-ft models`` and the picker: ``name``,
        ``title``, ``input``, ``params``, ``top1`` (ImageNet, %), ``speed`` (images/s on
        a CPU) and where pretrained ``weights`` come from (None where unknown)."""
        return {"name": self.name, "title": self.title, "input": self.input_kind,
                "params": None, "top1": None, "speed": None, "weights": ""}

    # ---------------------------------------------------------------- spec and build
    def check_spec(self, spec: ModelSpec) -> None:
        """Raise :class:`UserError` for settings this modality cannot build (by default
        every setting is buildable)."""
        return None

    def uses_pretrained_weights(self, spec: ModelSpec) -> bool:
        return True

    def default_strategy(self, spec: ModelSpec) -> str:
        """What trains right after loading: only the new head when the weights are
        pretrained, everything when they are random."""
        return "head" if self.uses_pretrained_weights(spec) else "full"

    @abstractmethod
    def build(self, spec: ModelSpec, observer: Observer,
              stop: threading.Event | None) -> ModelBundle:
        """Build the model ``spec`` describes, its head sized for ``spec.num_classes``."""

    @abstractmethod
    def rebuild_head(self, bundle: ModelBundle, spec: ModelSpec) -> ModelBundle:
        """The same pretrained layers with a head for ``spec.num_classes``."""

    @abstractmethod
    def build_tree(self, bundle: ModelBundle):
        """The :class:`~desktop_ft.core.layer_tree.LayerTree` over ``bundle.model``."""

    # ---------------------------------------------------------------- data and inference
    @abstractmethod
    def make_dataset(self, bundle: ModelBundle, split, batch_size: int, *, shuffle: bool,
                     seed: int = 0, epochs: tuple[int, int] | None = None,
                     class_weights: dict | None = None, on_unreadable=None):
        """A batched dataset of (model input, target, sample weight) for ``fit``; with
        ``epochs`` and ``shuffle``, one stream of those epochs' batches, each epoch's order
        fixed by (seed, epoch) (``datasets.epoch_batches``). The weight is the class
        weight, and 0 for an example whose file can no longer be read (reported through
        ``on_unreadable(path, reason)``)."""

    @abstractmethod
    def model_inputs(self, bundle: ModelBundle, raw_inputs):
        """The model's input arrays for a batch of raw inputs (images resized and
        preprocessed as for training; texts tokenized by the checkpoint's tokenizer)."""

    def predict_proba(self, bundle: ModelBundle, inputs, batch_size: int = 32):
        """Class probabilities ``[N, num_classes]`` from raw inputs, calibrated by the
        bundle's :class:`Decision` (its temperature; exports apply the same)."""
        import numpy as np

        outs = [np.asarray(predict_batch(bundle.model, self.model_inputs(
                    bundle, list(inputs[i:i + batch_size]))), dtype=np.float32)
                for i in range(0, len(inputs), batch_size)]
        out = np.concatenate(outs) if outs else \
            np.zeros((0, 1 if bundle.binary else bundle.num_classes), np.float32)
        return bundle.decision.calibrated(to_class_probs(out, bundle.binary))

    def training_bytes_per_example(self, spec: ModelSpec) -> int:
        """A rough upper estimate of the memory one training example takes (activations
        and their gradients), to refuse settings that cannot fit before starting."""
        return 0

    def chain_layers(self, model) -> list | None:
        """The model's layers in order when it is a plain chain (the feature cache can
        cut it anywhere); None when it is not."""
        return None

    def explain(self, bundle: ModelBundle, inputs, label: int | None = None) -> list[dict]:
        """Why the model decided as it did, per raw input: ``{"probs": [...], "label":
        the index explained}`` plus, for images, ``heatmap`` (2-D, non-negative, the
        image's size) and ``layer``; for text, ``tokens`` and ``scores``. The evidence is
        for the most probable class (multi-label: label), or for index ``label``."""
        raise UserError("Explanations are not offered for this model.")

    # ---------------------------------------------------------------- PEFT
    def add_lora(self, bundle: ModelBundle, rank: int) -> None:
        raise UserError(self.lora_unavailable or "LoRA is not offered for this model.")

    def quantize_int8(self, bundle: ModelBundle) -> None:
        raise UserError(self.lora_unavailable or "int8 is not offered for this model.")

    def merged_model(self, bundle: ModelBundle):
        raise UserError("--merge-lora needs a model trained with the lora strategy.")

    # ---------------------------------------------------------------- export
    @abstractmethod
    def serve_function(self, bundle: ModelBundle, outputs):
        """A ``tf.function`` taking raw input (``outputs(raw_model_output)`` → dict)."""

    def saved_model_unavailable(self, try_import: bool = True) -> str | None:
        """Why this process cannot write or run this modality's SavedModel (an op library
        missing), or None. The export then writes the other formats and says why.
        ``try_import=False``: only what is known without importing TensorFlow."""
        return None

    def archive_extras(self, bundle: ModelBundle) -> list:
        """Objects whose lookup tables the SavedModel must hold besides the model's
        variables (e.g. a tokenizer's vocabulary)."""
        return []

    def synthetic_inputs(self) -> list:
        """Raw inputs, beside real ones, for checking an export against the app."""
        return []

    def export_fields(self, bundle: ModelBundle) -> dict:
        """Modality-specific entries for ``export.json`` (input size, head …)."""
        return {}

    def signature_input(self) -> str:
        return ""

    # The modality's module of ONNX/LiteRT wrappers: raw_input_model(bundle) and
    # format_inputs(bundle, raw_inputs); None: those exports are not offered.
    raw_input = None

    def raw_input_model(self, bundle: ModelBundle):
        """A Keras model for ONNX/LiteRT: the modality's raw input (preprocessing inside,
        at fixed size) → ``probs`` ``[N, num_classes]``."""
        if self.raw_input is None:
            raise UserError("ONNX and LiteRT exports are not offered for this model.")
        return self.raw_input.raw_input_model(bundle)

    def format_inputs(self, bundle: ModelBundle, raw_inputs) -> dict:
        """Raw inputs → the inputs of :meth:`raw_input_model`, by name."""
        if self.raw_input is None:
            raise UserError("ONNX and LiteRT exports are not offered for this model.")
        return self.raw_input.format_inputs(bundle, raw_inputs)

    def write_tokenizer(self, bundle: ModelBundle, path) -> bool:
        """Write the tokenizer beside the exported files when the model needs one; True
        if so."""
        return False

    def tokenizer_record(self, bundle: ModelBundle, saved_model: bool, texts) -> dict:
        """``export.json``'s record of the tokenizer written by :meth:`write_tokenizer`."""
        return {}

    def attach_saved_assets(self, bundle: ModelBundle, folder) -> None:
        """Complete a bundle loaded from an export's ``model.keras`` with what was written
        beside it (a tokenizer)."""
        return None
