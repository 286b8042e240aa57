"""What early stopping and the run's "best" checkpoint follow: the job's ``monitor``.

- ``val_loss`` (the default) — lower is better;
- ``val_accuracy`` — higher is better;
- ``val_macro_f1`` — higher is better: the mean F1 over classes (or labels), which an
  imbalanced validation split cannot satisfy by predicting the common class. Keras does
  not compute it; :func:`macro_f1_callback` predicts the validation data after every
  epoch and puts it into the epoch's logs, before early stopping and the checkpoint
  read them.

Without a validation split every monitor falls back to the training loss.
"""

from __future__ import annotations

from desktop_ft.core.training.metrics import (best_f1_thresholds, multi_label_metrics,
                                              single_label_metrics)

MONITORS = ("val_loss", "val_accuracy", "val_macro_f1")
DEFAULT_MONITOR = "val_loss"
MACRO_F1 = "val_macro_f1"
# What the window and the summaries call each monitor.
MONITOR_TITLES = {"val_loss": "validation loss", "val_accuracy": "validation accuracy",
                  "val_macro_f1": "validation macro-F1"}


def monitor_mode(monitor: str) -> str:
    """``"min"`` when lower is better (a loss), else ``"max"``."""
    return "min" if monitor.endswith("loss") else "max"


def improved(monitor: str, value: float, best: float | None) -> bool:
    return best is None or (value < best if monitor_mode(monitor) == "min" else value > best)


def labels_from_targets(y, binary: bool, multi_label: bool):
    """The labels the training targets encode: class indices (a sigmoid's ``[N, 1]``
    0/1, a softmax's one-hot) or, multi-label, tuples of label indices (multi-hot)."""
    import numpy as np

    y = np.asarray(y, dtype=np.float32)
    if multi_label:
        return [tuple(int(i) for i in np.flatnonzero(row > 0.5)) for row in y]
    if binary:
        return (y.reshape(-1) > 0.5).astype(np.int64).tolist()
    return y.argmax(axis=-1).tolist()


def validation_macro_f1(model, dataset, binary: bool, multi_label: bool) -> float | None:
    """Macro-F1 of ``model`` on ``dataset``'s batches of (input, target, weight); examples
    of weight 0 (unreadable files, padding) are left out. Multi-label: at each label's
    best-F1 threshold on these examples — the thresholds the model gets after training
    are chosen so — not at 0.5, which an early, timid model's probabilities all miss."""
    import keras
    import numpy as np

    from desktop_ft.core.models.shared import to_class_probs

    outs, targets = [], []
    for batch in dataset:
        x, y = batch[0], batch[1]
        keep = np.asarray(batch[2]).reshape(-1) > 0 if len(batch) > 2 else None
        out = np.asarray(model.predict_on_batch(keras.tree.map_structure(np.asarray, x)),
                         dtype=np.float32)
        y = np.asarray(y)
        if keep is not None:
            out, y = out[keep], y[keep]
        outs.append(out)
        targets.append(y)
    if not outs:
        return None
    probs = to_class_probs(np.concatenate(outs), binary)
    labels = labels_from_targets(np.concatenate(targets), binary, multi_label)
    classes = [str(i) for i in range(probs.shape[1])]
    metrics = multi_label_metrics(labels, probs, classes, best_f1_thresholds(labels, probs)) \
        if multi_label else single_label_metrics(labels, probs, classes)
    return metrics["macro_f1"]


def macro_f1_callback(dataset, binary: bool, multi_label: bool):
    """A Keras callback putting ``val_macro_f1`` into every epoch's logs (it must come
    before the callbacks that read it: the logs dict is shared)."""
    import keras

    class MacroF1(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if logs is None or self.model.stop_training:
                return      # stopped mid-epoch: Keras did not validate either
            value = validation_macro_f1(self.model, dataset, binary, multi_label)
            if value is not None:
                logs[MACRO_F1] = value

    return MacroF1()


def suggested_monitor(scan) -> str | None:
    """``val_macro_f1`` for a scan whose classes (or labels) are imbalanced — by the rule
    its imbalance warning follows — else None (the default stands)."""
    from desktop_ft.core.data.scan_result import IMBALANCE_RATIO

    nonzero = [n for n in scan.counts().values() if n]
    if nonzero and max(nonzero) / min(nonzero) > IMBALANCE_RATIO:
        return MACRO_F1
    return None
