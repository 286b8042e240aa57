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
        for key in ("loss", "accuracy", "val_loss", "val_accuracy", "val_macro_f1"):
            if key in logs:
                parts.append(f"{key} {logs[key]:.4f}")
        if "lr" in logs:
            parts.append(f"lr {logs['lr']:.2e}")
        self._print("  ".join(parts) + " " * 8)


def _num(v, fmt: str = ".4f") -> str:
    return "n/a" if v is None else format(v, fmt)


def print_evaluation(ev: dict, stream) -> None:
    if not ev:
        return
    if ev.get("multi_label"):
        print_label_table(ev, stream)
        return
    print(f"Accuracy on {ev['examples']} {ev.get('split', 'held-out')} examples: "
          f"{_num(ev['accuracy'])}", file=stream)
    overall = [("macro-F1", ev.get("macro_f1")),
               ("balanced accuracy", ev.get("balanced_accuracy")),
               ("top-5 accuracy", ev.get("top5_accuracy")), ("ROC-AUC", ev.get("roc_auc"))]
    print("  ".join(f"{name} {_num(v)}" for name, v in overall if v is not None),
          file=stream)
    width = max([len(c) for c in ev["classes"]] + [5])
    print(f"  {'class':<{width}}  {'precision':>9} {'recall':>9} {'F1':>9} {'support':>8}",
          file=stream)
    for name in ev["classes"]:
        row = ev.get("per_class", {}).get(name, {})
        print(f"  {name:<{width}}  {_num(row.get('precision')):>9} "
              f"{_num(row.get('recall')):>9} {_num(row.get('f1')):>9} "
              f"{row.get('support', 0):>8}", file=stream)
    print("Confusion matrix (rows: true, columns: predicted):", file=stream)
    print("  " + " " * width + "  " + " ".join(f"{c[:8]:>8}" for c in ev["classes"]), file=stream)
    for name, row in zip(ev["classes"], ev["confusion_matrix"]):
        print(f"  {name:<{width}}  " + " ".join(f"{v:>8}" for v in row), file=stream)


def print_label_table(ev: dict, stream) -> None:
    """A multi-label evaluation: the overall numbers, then one line per label."""
    print(f"{ev['examples']} {ev.get('split', 'held-out')} examples: micro-F1 "
          f"{_num(ev['micro_f1'])}  macro-F1 {_num(ev['macro_f1'])}  exact match "
          f"{_num(ev['exact_match'])}  mAP {_num(ev['mean_average_precision'])}", file=stream)
    width = max([len(c) for c in ev["classes"]] + [5])
    print(f"  {'label':<{width}}  {'TP':>5} {'FP':>5} {'FN':>5} {'precision':>9} "
          f"{'recall':>9} {'F1':>9} {'AP':>9} {'threshold':>9}", file=stream)
    for name in ev["classes"]:
        r = ev["per_label"][name]
        print(f"  {name:<{width}}  {r['tp']:>5} {r['fp']:>5} {r['fn']:>5} "
              f"{_num(r['precision']):>9} {_num(r['recall']):>9} {_num(r['f1']):>9} "
              f"{_num(r['average_precision']):>9} {_num(r.get('threshold'), '.3f'):>9}",
              file=stream)


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
