"""What to train, on what, and how: :class:`TrainJob`, and the default learning rate.

The default learning rate follows what is trainable, not a strategy's name: when few
weights train (a new head, adapters, biases) a larger step suits them; when many
pretrained weights train, a small one keeps them from being wrecked. The window and the
CLI both get it from :func:`resolve_learning_rate`.

Example:
    >>> job = TrainJob(model=ModelSpec(weights="none", image_size=32),   # the default network
    ...                data="shapes/", epochs=2, strategy="head")
    >>> job.to_dict()["epochs"]
    2
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

from desktop_ft.core.errors import UserError
from desktop_ft.core.layer_tree import STRATEGIES
from desktop_ft.core.models import ModelSpec, check_spec, modality_for
from desktop_ft.core.training.monitor import DEFAULT_MONITOR, MONITORS
from desktop_ft.core.training.schedules import SCHEDULES
from desktop_ft.core.training.retention import DEFAULT_KEEP, DEFAULT_MAX_GB

OPTIMIZERS = ("adam", "adamw", "sgd")
# Strategies a job may name; "auto" is the modality's default for its weights (only the
# new head on pretrained weights, everything on random ones); None keeps the tree as is.
# The layer tree's strategies (core/layer_tree/trainability.py), and "auto": the
# modality's default for the weights.
JOB_STRATEGIES = ("auto", *STRATEGIES)
# Below this share of the pretrained weights changing, "few weights train".
FEW_PARAMS_FRACTION = 0.05


def _bad(flag: str, setting: str, problem: str) -> UserError:
    """A refused value, named by its flag for the CLI and by its control in the window
    (a project file opened there can hold it)."""
    return UserError(f"{flag} {problem}", window_message=f"{setting} {problem}")


@dataclass
class TrainJob:
    """What to train, on what, and how. Serialisable (``to_dict``) for projects and runs."""

    model: ModelSpec = field(default_factory=ModelSpec)
    data: str = ""
    val_data: str | None = None
    val_split: float = 0.2
    strategy: str | None = "auto"        # None: use the layer tree exactly as it is
    unfreeze_last: int = 1
    lora_rank: int = 4                   # lora / qlora
    two_phase: bool = False              # head first, then the chosen layers at lr / 10
    phase1_epochs: int = 0               # 0: phase 1 runs until `monitor` stops improving
    patterns: list = field(default_factory=list)   # [("freeze"|"unfreeze", glob), ...]
    epochs: int = 10
    batch_size: int = 32
    lr: float | None = None              # None: resolve_learning_rate's default
    optimizer: str | None = None         # None: the modality's (adam / adamw)
    weight_decay: float | None = None    # None: the optimizer's (AdamW 0.01, SGD none)
    label_smoothing: float = 0.0         # targets pulled this far towards uniform
    schedule: str | None = None          # None: the modality's (core/training/schedules.py)
    warmup: float | None = None          # fraction of a phase's steps; None: the schedule's
    early_stopping: int = 0              # patience in epochs; 0 = off
    monitor: str = DEFAULT_MONITOR       # what early stopping and the best checkpoint follow
    seed: int = 0
    class_weights: bool = False
    text_column: str | None = None
    label_column: str | None = None
    multi_label: bool = False            # read the table's labels as several per row
    feature_cache: bool = True           # train on cached features of a frozen prefix
    cache_budget_mb: int = 2048          # ... when they fit in this much memory
    jit_compile: bool = False            # XLA
    keep_runs: int = DEFAULT_KEEP        # when the run ends, keep this many finished runs
    max_runs_gb: float = DEFAULT_MAX_GB  # ... and at most this much (0: no size cap)
    corrections: str | None = None       # a corrections file the scan applies (suspect labels)

    def __post_init__(self):
        if isinstance(self.model, dict):
            self.model = ModelSpec.from_dict(self.model)
        check_spec(self.model)
        self.patterns = [tuple(p) for p in self.patterns]
        if self.strategy is not None and self.strategy not in JOB_STRATEGIES:
            raise UserError(f"Unknown strategy '{self.strategy}'. Choose one of: "
                            f"{', '.join(JOB_STRATEGIES)}.")
        if self.epochs < 1:
            raise _bad("--epochs", "Epochs (Train tab)", f"must be at least 1, got {self.epochs}.")
        if self.batch_size < 1:
            raise _bad("--batch-size", "Batch (Train tab)",
                       f"must be at least 1, got {self.batch_size}.")
        if self.lr is not None and not (self.lr > 0 and math.isfinite(self.lr)):
            raise _bad("--lr", "Learning rate (Train tab)",
                       f"must be a positive number, got {self.lr}.")
        if self.optimizer is not None and self.optimizer not in OPTIMIZERS:
            raise UserError(f"Unknown optimizer '{self.optimizer}'. Choose one of: "
                            f"{', '.join(OPTIMIZERS)}.")
        self._check_regularisation()
        if self.schedule is not None and self.schedule not in SCHEDULES:
            raise UserError(f"Unknown schedule '{self.schedule}'. Choose one of: "
                            f"{', '.join(SCHEDULES)}.")
        if self.warmup is not None and not 0 <= self.warmup < 1:
            raise _bad("--warmup", "Warm-up (Train tab)", "must be a fraction from 0 to "
                       f"below 1 (e.g. 0.1), got {self.warmup}.")
        if not 0 <= self.val_split < 1:
            raise _bad("--val-split", "The validation split (Data tab)", "must be a fraction "
                       f"from 0 to below 1 (e.g. 0.2), got {self.val_split}.")
        if self.cache_budget_mb < 0:
            raise _bad("--cache-budget", "The feature cache's memory budget", "must be 0 (no "
                       f"feature cache) or more MB, got {self.cache_budget_mb}.")
        if self.early_stopping < 0:
            raise _bad("--early-stopping", "Early stopping (Train tab)",
                       "must be 0 (off) or a patience in epochs.")
        if self.monitor not in MONITORS:
            raise UserError(f"--monitor must be one of {', '.join(MONITORS)}; got "
                            f"'{self.monitor}'.",
                            window_message="Stop/keep best by (Train tab) must be validation "
                            "loss, accuracy or macro-F1; the project file holds "
                            f"'{self.monitor}'.")
        if self.keep_runs < 0 or not self.max_runs_gb >= 0:
            raise _bad("--keep-runs and --max-runs-gb", "The runs cap (Settings)",
                       "must be 0 (no cap) or more.")
        if self.unfreeze_last < 0:
            raise _bad("--unfreeze-last", "N of 'Last N blocks'", "must be 0 or more.")
        if self.lora_rank < 1:
            raise _bad("--lora-rank", "The LoRA rank", f"must be at least 1, got "
                       f"{self.lora_rank}.")
        if self.strategy == "two-phase":
            self.two_phase = True
        if self.phase1_epochs < 0 or (self.two_phase and self.phase1_epochs >= self.epochs):
            raise UserError(f"--phase1-epochs must be below --epochs ({self.epochs}); got "
                            f"{self.phase1_epochs}.",
                            window_message=f"Phase 1 (Train tab) must be fewer epochs than "
                                           f"Epochs ({self.epochs}); it is "
                                           f"{self.phase1_epochs}. Lower it, or set it to "
                                           "auto.")
        if self.two_phase and self.epochs < 2:
            raise UserError("Two-phase training needs at least 2 epochs.")
        if self.two_phase and self.strategy in ("lora", "qlora"):
            raise UserError("Two-phase training unfreezes pretrained layers; it does not "
                            "combine with lora/qlora.")

    def _check_regularisation(self) -> None:
        """Weight decay (AdamW and SGD) and label smoothing."""
        wd = self.weight_decay
        if wd is not None and not (wd >= 0 and math.isfinite(wd)):
            raise _bad("--weight-decay", "Weight decay (Train tab, Advanced)",
                       f"must be 0 or a positive number (e.g. 0.01), got {wd}.")
        if wd is not None and self.optimizer == "adam":
            raise UserError("--weight-decay goes with --optimizer adamw or sgd: Adam has no "
                            "decoupled weight decay. Choose adamw (Adam with weight decay).",
                            window_message="Weight decay goes with the AdamW or SGD "
                            "optimizer (Train tab, Advanced): choose AdamW, which is Adam "
                            "with weight decay, or leave weight decay at default.")
        if not 0 <= self.label_smoothing < 1:
            raise _bad("--label-smoothing", "Label smoothing (Train tab, Advanced)",
                       "must be a fraction from 0 to below 1 (e.g. 0.1), got "
                       f"{self.label_smoothing}.")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["patterns"] = [list(p) for p in self.patterns]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainJob":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def optimizer_name(self) -> str:
        """The optimizer to build: the job's, else the modality's — AdamW instead of Adam
        when the job sets a weight decay."""
        name = self.optimizer or modality_for(self.model.architecture).optimizer
        if self.optimizer is None and name == "adam" and self.weight_decay is not None:
            return "adamw"
        return name


def check_memory(job: TrainJob, total_bytes: int | None = None) -> None:
    """Refuse, before anything is built, a batch that cannot fit in this machine's memory
    (e.g. --image-size 100000), with the numbers and what to change."""
    import os

    if total_bytes is None:
        try:
            total_bytes = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            return
    modality = modality_for(job.model.architecture)
    need = modality.training_bytes_per_example(job.model) * job.batch_size
    if need > total_bytes:
        per = need / job.batch_size
        fits = int(total_bytes // per) if per else 0
        advice = f"try batch size {max(1, fits)}" if fits >= 1 else \
            "lower the image size or sequence length"
        raise UserError(f"A batch of {job.batch_size} needs about {need / 2**30:,.1f} GiB to "
                        f"train, more than this machine's {total_bytes / 2**30:,.1f} GiB of "
                        f"memory: {advice}.")


def resolve_learning_rate(job: TrainJob, tree) -> tuple[float, str]:
    """(learning rate, why) for ``job`` with ``tree`` as it will train: an explicit
    ``job.lr`` wins, else :func:`default_learning_rate`."""
    if job.lr is not None:
        return job.lr, "set by you"
    return default_learning_rate(job.model.architecture, tree, job.two_phase)


def default_learning_rate(architecture: str, tree, two_phase: bool = False) -> tuple[float, str]:
    """(rate, why), read off the tree: when few pretrained weights change (under
    :data:`FEW_PARAMS_FRACTION` — a new head, LoRA adapters, biases) the modality's larger
    rate; when many do, its fine-tuning rate. Two-phase starts with the head alone (the
    larger rate); its phase 2 runs at a tenth of it."""
    modality = modality_for(architecture)
    if two_phase:
        return modality.few_params_lr, "two-phase: the new head trains first"
    fraction = tree.pretrained_fraction_trainable()
    if fraction < FEW_PARAMS_FRACTION:
        return modality.few_params_lr, (f"{fraction:.1%} of the pretrained weights change: "
                                      "a new head, adapters or biases take larger steps")
    return modality.finetune_lr, (f"{fraction:.0%} of the pretrained weights change: small "
                                "steps keep what they learned")
