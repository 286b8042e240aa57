"""The observer protocol through which the engine reports progress.

Only plain Python values (floats, ints, strings, dicts and lists of them) are passed,
so an observer may forward them across threads safely.
"""

from __future__ import annotations


class Observer:
    """Receives progress from long engine operations. Every method is optional."""

    def on_status(self, message: str) -> None:
        """A human-readable line about what the engine is doing."""

    def on_progress(self, done: float, total: float, what: str) -> None:
        """Progress of a non-training task (download, scan, export), ``total`` may be 0."""

    def on_train_begin(self, info: dict) -> None:
        """``info`` has ``epochs``, ``steps_per_epoch``, ``phase``, ``first_epoch``,
        ``learning_rate``, ``classes``, and for a resumed run ``history_before`` (the
        per-epoch metrics of the epochs already done)."""

    def on_batch(self, epoch: int, batch: int, logs: dict) -> None:
        """After each training batch; ``logs`` maps metric names to floats."""

    def on_epoch(self, epoch: int, logs: dict) -> None:
        """After each epoch; ``logs`` has train and ``val_`` metrics and ``seconds``."""

    def on_train_end(self, summary: dict) -> None:
        """When fit returns (normally, by early stopping or by a stop request)."""

