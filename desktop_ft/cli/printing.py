"""What the CLI prints: status lines, a progress bar, evaluation tables, a data scan."""

from __future__ import annotations

import sys
import time

from desktop_ft.core.observer import Observer
from desktop_ft.core.progress import Progress, format_seconds


class PrintingObserver(Observer):
    """Prints status lines and a per-epoch progress bar (redrawn per batch on a TTY)."""

    def __init__(self, stream=None, quiet: bool = False):
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty()
        self.quiet = quiet
        self.progress = Progress()
        self._last_draw = 0.0

    def _print(self, text: str) -> None:
        if not self.quiet:
            print(text, file=self.stream, flush=True)

    def on_status(self, message: str) -> None:
        self._print(message)

    def on_progress(self, done, total, what) -> None:
        if self.tty and total and not self.quiet:
            self.stream.write(f"\r{what}: {done / total:6.1%} ({done / 1e6:.1f} of "
                              f"{total / 1e6:.1f} MB)")
            if done >= total:
                self.stream.write("\n")
            self.stream.flush()

    def on_train_begin(self, info: dict) -> None:
        self.progress.begin(info)
        p = self.progress
        self._print(f"Training on {info['train_examples']} examples, validating on "
                    f"{info['val_examples']}; {p.epochs} epoch(s) of {p.steps} batch(es), "
                    f"learning rate {info.get('learning_rate', 0):g}.")

    def on_batch(self, epoch: int, batch: int, logs: dict) -> None:
        p = self.progress
        p.batch(epoch, batch)
        now = time.perf_counter()
        if not self.tty or self.quiet or (now - self._last_draw < 0.1 and batch + 1 < p.steps):
            return
        self._last_draw = now
        done = (batch + 1) / p.steps
        bar = "█" * int(done * 24) + "·" * (24 - int(done * 24))
        self.stream.write(f"\rEpoch {epoch + 1}/{p.epochs} {bar} {batch + 1}/{p.steps} "
                          f"loss {logs.get('loss', float('nan')):.4f} "
                          f"acc {logs.get('accuracy', float('nan')):.3f} "
                          f"ETA {format_seconds(p.eta_seconds())} ")
        self.stream.flush()

    def on_epoch(self, epoch: int, logs: dict) -> None:
        if self.tty and not self.quiet:
            self.stream.write("\r")
        parts = [f"Epoch {epoch + 1}/{self.progress.epochs}", f"{logs.get('seconds', 0):.1f}s"]
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            if key in logs:
                parts.append(f"{key} {logs[key]:.4f}")
        if "lr" in logs:
            parts.append(f"lr {logs['lr']:.2e}")
        self._print("  ".join(parts) + " " * 8)


def print_evaluation(ev: dict, stream) -> None:
    if not ev:
        return
    print(f"Accuracy on {ev['examples']} {ev.get('split', 'held-out')} examples: "
          f"{ev['accuracy']:.4f}", file=stream)
    width = max(len(c) for c in ev["classes"])
    for name, acc in ev["per_class_accuracy"].items():
        text = "n/a" if acc is None else f"{acc:.4f}"
        print(f"  {name:<{width}}  {text}", file=stream)
    print("Confusion matrix (rows: true, columns: predicted):", file=stream)
    print("  " + " " * width + "  " + " ".join(f"{c[:8]:>8}" for c in ev["classes"]), file=stream)
    for name, row in zip(ev["classes"], ev["confusion_matrix"]):
        print(f"  {name:<{width}}  " + " ".join(f"{v:>8}" for v in row), file=stream)


def print_scan(s: dict, stream) -> None:
    """A scan's summary (``DataScan.summary()``): classes and counts, splits, skipped
    files, warnings — for multi-label data also labels per row, the most frequent pairs of
    labels, rows with no label and labels too rare to learn."""
    multi = s.get("multi_label", False)
    noun = "labels" if multi else "classes"
    print(f"{s['kind']} dataset, {s['layout']}: {len(s['classes'])} {noun}", file=stream)
    if multi:
        print("Rows holding each label:", file=stream)
    for name, n in s["counts"].items():
        print(f"  {name}: {n}", file=stream)
    for split in ("train", "val", "test"):
        if split in s:
            print(f"{split}: {s[split]} examples", file=stream)
    if multi:
        print(f"Labels per row: {s['labels_per_row']:g} on average; rows with no label: "
              f"{s['no_label_rows']}", file=stream)
        pairs = s["cooccurrence"]
        if pairs:
            print("Labels together (rows holding both):", file=stream)
            for pair in pairs[:10]:
                print(f"  {' + '.join(pair['labels'])}: {pair['count']}", file=stream)
            if len(pairs) > 10:
                print(f"  … and {len(pairs) - 10} more pairs (--json lists all)", file=stream)
        print(f"Too rare to learn (fewer than {s['rare_below']} rows): "
              f"{', '.join(s['rare_labels']) or 'none'}", file=stream)
    for item in s["skipped"]:
        print(f"skipped {item['path']}: {item['reason']}", file=stream)
    for w in s["warnings"]:
        print(f"warning: {w}", file=stream)
