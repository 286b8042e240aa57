"""The report's metric tables (see :mod:`desktop_ft.core.report`): overall numbers and
per-class precision, recall, F1 and support for a single-label evaluation; per-label TP,
FP, FN, precision, recall, F1 and average precision with micro-/macro-F1, exact match and
mAP for a multi-label one; and what a mistake card says."""

from __future__ import annotations

import html


def _esc(value) -> str:
    return html.escape(str(value))


def _pct(value) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _overall(rows: list[tuple[str, float | None]]) -> str:
    return "<table class='facts'>" + "".join(
        f"<tr><th>{_esc(name)}</th><td>{_pct(v)}</td></tr>" for name, v in rows
        if v is not None) + "</table>"


def class_tables(evaluation: dict) -> str:
    """Overall metrics and the per-class table of a single-label evaluation."""
    overall = _overall([("Accuracy", evaluation.get("accuracy")),
                        ("Macro-F1", evaluation.get("macro_f1")),
                        ("Balanced accuracy", evaluation.get("balanced_accuracy")),
                        ("Top-5 accuracy", evaluation.get("top5_accuracy")),
                        ("ROC-AUC", evaluation.get("roc_auc"))])
    per_class = evaluation.get("per_class", {})
    rows = ["<table class='per-class'><tr><th>class</th><th>accuracy</th>"
            "<th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>"]
    for name, acc in evaluation.get("per_class_accuracy", {}).items():
        r = per_class.get(name, {})
        rows.append(f"<tr><th>{_esc(name)}</th><td>{_pct(acc)}</td>"
                    f"<td>{_pct(r.get('precision'))}</td><td>{_pct(r.get('recall'))}</td>"
                    f"<td>{_pct(r.get('f1'))}</td><td>{r.get('support', '')}</td></tr>")
    return (f"<h2>Metrics</h2>{overall}"
            "<h2>Per-class accuracy, precision, recall and F1</h2>" + "".join(rows)
            + "</table>")


def label_tables(evaluation: dict) -> str:
    """Overall metrics and the per-label table of a multi-label evaluation."""
    overall = _overall([("Micro-F1", evaluation.get("micro_f1")),
                        ("Macro-F1", evaluation.get("macro_f1")),
                        ("Exact match", evaluation.get("exact_match")),
                        ("Mean average precision", evaluation.get("mean_average_precision"))])
    rows = ["<table class='per-label'><tr><th>label</th><th>TP</th><th>FP</th><th>FN</th>"
            "<th>precision</th><th>recall</th><th>F1</th><th>average precision</th>"
            "<th>threshold</th><th>support</th></tr>"]
    for name, r in evaluation.get("per_label", {}).items():
        threshold = r.get("threshold")
        rows.append(f"<tr><th>{_esc(name)}</th><td>{r['tp']}</td><td>{r['fp']}</td>"
                    f"<td>{r['fn']}</td><td>{_pct(r['precision'])}</td>"
                    f"<td>{_pct(r['recall'])}</td><td>{_pct(r['f1'])}</td>"
                    f"<td>{_pct(r['average_precision'])}</td>"
                    f"<td>{'' if threshold is None else f'{threshold:.3f}'}</td>"
                    f"<td>{r['support']}</td></tr>")
    return f"<h2>Metrics</h2>{overall}<h2>Per-label metrics</h2>" + "".join(rows) + "</table>"


def mistake_caption(m: dict) -> str:
    """What a mistake card says: the true and predicted class, or for a multi-label row
    its true labels, the labels predicted (those past their thresholds, with their
    probabilities) and the labels missed and wrongly added."""
    if "missed" not in m:
        return (f"true <b>{_esc(m['true'])}</b>, predicted <b>{_esc(m['predicted'])}</b> "
                f"({m['confidence']:.0%})")
    # The labels that reached their thresholds, each with its probability.
    passed = ", ".join(f"{c} {m['probs'][c]:.0%}" for c in
                       sorted(m["predicted"], key=lambda c: -m["probs"][c]))
    parts = [f"true <b>{_esc(', '.join(m['true']) or '(none)')}</b>",
             f"predicted <b>{_esc(passed or '(none)')}</b>"]
    if m["missed"]:
        parts.append(f"missed <b>{_esc(', '.join(m['missed']))}</b>")
    if m["added"]:
        parts.append(f"wrongly added <b>{_esc(', '.join(m['added']))}</b>")
    return "; ".join(parts)
