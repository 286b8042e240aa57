"""What a training run produced: :class:`TrainResult` (its evaluation's metrics come from
:mod:`desktop_ft.core.training.metrics`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from desktop_ft.core.data import DataScan
from desktop_ft.core.data.datasets import readable_inputs
from desktop_ft.core.models import ModelBundle
from desktop_ft.core.training.job import TrainJob


@dataclass
class TrainResult:
    bundle: ModelBundle
    scan: DataScan
    job: TrainJob
    history: dict
    epochs_run: int
    epoch_seconds: list
    stop_reason: str
    evaluation: dict | None
    train_counts: dict
    val_counts: dict | None
    learning_rate: float = 0.0
    resumed_from: int | None = None      # epochs done before a resume
    run_path: str | None = None
    phase2_epoch: int | None = None
    feature_cache: list = field(default_factory=list)
    # The held-out examples behind ``evaluation``: raw items (paths or texts), true
    # labels and the model's probabilities — for the mistakes view and the report.
    eval_items: list = field(default_factory=list)
    eval_labels: list = field(default_factory=list)
    eval_probs: list = field(default_factory=list)
    # What trained: {"processes", "devices", "device_names"} (distribution.training_devices)
    devices: dict = field(default_factory=dict)

    @property
    def classes(self) -> list[str]:
        return self.scan.classes

    def export_info(self) -> dict:
        """What ``export.json`` records about this training run."""
        return {"metrics": self.evaluation, "epochs_run": self.epochs_run,
                "stop_reason": self.stop_reason, "history": self.history,
                "learning_rate": self.learning_rate, "run": self.run_path,
                "train_examples": self.train_counts, "val_examples": self.val_counts,
                "feature_cache": self.feature_cache, "train_job": self.job.to_dict(),
                **self.devices}

    def parity_samples(self, n: int = 4) -> list:
        """A few real training inputs for the export's parity check (and, more of them,
        to calibrate an int8 export)."""
        return readable_inputs(self.bundle.input_kind, self.scan.train.items[:n],
                               self.scan.train.labels[:n])[0]

    def validation_inputs(self, n: int = 200) -> tuple[list, list] | None:
        """(raw inputs, labels) of the held-out examples, to measure an int8 export."""
        if not self.eval_items:
            return None
        inputs, _, labels = readable_inputs(self.bundle.input_kind, self.eval_items[:n],
                                            self.eval_labels[:n])
        return inputs, labels

    def summary(self) -> dict:
        trainable, frozen = self.bundle.tree.totals()
        per_epoch = []
        for i in range(self.epochs_run):
            row = {"epoch": i + 1}
            if i < len(self.epoch_seconds):
                row["seconds"] = round(self.epoch_seconds[i], 3)
            row.update({k: float(v[i]) for k, v in self.history.items() if i < len(v)})
            per_epoch.append(row)
        peft = self.bundle.peft()
        return {
            "model": self.bundle.architecture,
            "weights": self.bundle.weights_source,
            "classes": self.classes,
            "strategy": self.bundle.tree.strategy,
            "trainable_params": trainable,
            "frozen_params": frozen,
            "learning_rate": self.learning_rate,
            "epochs_run": self.epochs_run,
            "resumed_from": self.resumed_from,
            "run": self.run_path,
            "stop_reason": self.stop_reason,
            "monitor": self.job.monitor,
            "epochs": per_epoch,
            "evaluation": self.evaluation,
            "train_examples": self.train_counts,
            "val_examples": self.val_counts,
            "skipped": len(self.scan.skipped),
            "skipped_files": [{"path": p, "reason": r} for p, r in self.scan.skipped],
            "phase2_epoch": self.phase2_epoch,
            "feature_cache": self.feature_cache,
            # Calibration (temperature, ECE before/after), thresholds, "unknown".
            "decision": self.bundle.decision.to_dict(),
            "lora_rank": peft.get("lora_rank"),
            "quantized": peft.get("quantized"),
            **self.devices,
        }
