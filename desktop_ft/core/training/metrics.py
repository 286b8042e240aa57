"""Metrics beyond accuracy, from true labels and the model's probabilities (pure NumPy).

- :func:`single_label_metrics` — accuracy, per-class accuracy and the confusion matrix (rows:
  true, columns: predicted), and per class precision, recall, F1 and support; overall
  macro-F1, balanced accuracy, top-5 accuracy (10 or more classes) and ROC-AUC (binary).
- :func:`multi_label_metrics` — per label TP/FP/FN, precision, recall, F1 and average
  precision; overall micro-F1, macro-F1, exact match and mean average precision.
- :func:`best_f1_thresholds` — each label's threshold with the best F1 on a split.

Conventions (scikit-learn's): a precision or recall whose denominator is 0 counts as 0; the
macro averages run over the classes that occur in the true labels or the predictions (a
class in neither has ``None`` for precision, recall and F1). Average precision is ``None``
for a label with no positive example, and the mean average precision leaves it out.

Example:
    >>> m = single_label_metrics([0, 1, 1], [[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]], ["a", "b"])
    >>> m["accuracy"], m["per_class"]["b"]["recall"], round(m["macro_f1"], 3)
    (0.6666666666666666, 0.5, 0.667)
    >>> m["roc_auc"]
    1.0
"""

from __future__ import annotations

import numpy as np

# Top-k accuracy is reported for this many classes or more (k = 5).
TOP5_MIN_CLASSES = 10
# A label with nothing to learn from on the split keeps the plain default.
DEFAULT_THRESHOLD = 0.5


def _ratio(num, den) -> float:
    return float(num / den) if den else 0.0


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p, r = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    return p, r, _f1(p, r)


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def _probs_2d(probs, n_rows: int, n_cols: int) -> np.ndarray:
    p = np.asarray(probs, dtype=np.float64)
    return p.reshape(n_rows, n_cols) if p.size == n_rows * n_cols else p


def roc_auc(y_true, scores) -> float | None:
    """Area under the ROC curve (the Mann–Whitney statistic, ties counted half);
    ``None`` when only one class occurs."""
    y = np.asarray(y_true).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    pos, neg = int(y.sum()), int((~y).sum())
    if not pos or not neg:
        return None
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), np.float64)
    sorted_s = s[order]
    # average rank of each group of tied scores
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_s)) + 1]
    ends = np.r_[starts[1:], len(s)]
    for a, b in zip(starts, ends):
        ranks[order[a:b]] = (a + b + 1) / 2.0
    return float((ranks[y].sum() - pos * (pos + 1) / 2.0) / (pos * neg))


def _ranked_hits(y_true, scores):
    """The scores sorted high to low, the index of the last example of each group of
    equal scores, the true positives admitted down to each group, and the positives —
    or None when there is no positive example. What AP and the best-F1 threshold read."""
    y = np.asarray(y_true).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    pos = int(y.sum())
    if not pos:
        return None
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last_of_group = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    return s, last_of_group, np.cumsum(y)[last_of_group], pos


def average_precision(y_true, scores) -> float | None:
    """Average precision: the sum over distinct score thresholds (high to low) of
    precision × the recall gained there; ``None`` when there is no positive example."""
    curve = _ranked_hits(y_true, scores)
    if curve is None:
        return None
    _, last_of_group, tp, pos = curve
    predicted = last_of_group + 1
    recall = tp / pos
    precision = tp / predicted
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def single_label_metrics(labels, probs, classes: list[str]) -> dict:
    """Metrics of a single-label evaluation: ``labels`` are class indices, ``probs`` the
    class probabilities ``[N, C]`` (the prediction is the most probable class)."""
    n = len(classes)
    y = np.asarray(labels, dtype=np.int64).reshape(-1)
    p = _probs_2d(probs, len(y), n) if len(y) else np.zeros((0, n))
    pred = p.argmax(axis=1) if len(y) else np.zeros(0, np.int64)
    cm = np.zeros((n, n), dtype=np.int64)
    np.add.at(cm, (y, pred), 1)
    support, predicted, tp = cm.sum(axis=1), cm.sum(axis=0), np.diag(cm)
    per_class, per_class_accuracy, f1s, recalls = {}, {}, [], []
    for i, name in enumerate(classes):
        per_class_accuracy[name] = float(tp[i] / support[i]) if support[i] else None
        if not support[i] and not predicted[i]:
            per_class[name] = {"precision": None, "recall": None, "f1": None, "support": 0}
            continue
        prec, rec, f1 = _prf(int(tp[i]), int(predicted[i] - tp[i]), int(support[i] - tp[i]))
        per_class[name] = {"precision": prec, "recall": rec, "f1": f1,
                           "support": int(support[i])}
        f1s.append(f1)
        if support[i]:
            recalls.append(rec)
    top5 = None
    if n >= TOP5_MIN_CLASSES and len(y):
        top = np.argsort(-p, axis=1, kind="mergesort")[:, :5]
        top5 = float((top == y[:, None]).any(axis=1).mean())
    return {
        "examples": int(len(y)),
        "accuracy": float((pred == y).mean()) if len(y) else None,
        "per_class_accuracy": per_class_accuracy,
        "confusion_matrix": cm.tolist(),
        "classes": list(classes),
        "per_class": per_class,
        "macro_f1": _mean(f1s),
        "balanced_accuracy": _mean(recalls),
        "top5_accuracy": top5,
        "roc_auc": roc_auc(y == 1, p[:, 1]) if n == 2 and len(y) else None,
    }


def multi_hot(label_sets, n: int) -> np.ndarray:
    """``[N, n]`` booleans from a list of label-index tuples."""
    out = np.zeros((len(label_sets), n), dtype=bool)
    for row, labels in enumerate(label_sets):
        out[row, list(labels)] = True
    return out


def multi_label_metrics(label_sets, probs, classes: list[str], thresholds=None) -> dict:
    """Metrics of a multi-label evaluation: ``label_sets`` are tuples of label indices,
    ``probs`` the per-label probabilities ``[N, C]``; a label is predicted when its
    probability reaches its threshold (``thresholds``: one per label, default 0.5)."""
    n = len(classes)
    truth = multi_hot(label_sets, n)
    p = _probs_2d(probs, len(truth), n) if len(truth) else np.zeros((0, n))
    ts = np.asarray(thresholds if thresholds is not None else [DEFAULT_THRESHOLD] * n,
                    dtype=np.float64)
    # compared in float32, as Decision.predicted_sets (and every export) compares
    pred = p.astype(np.float32) >= ts.astype(np.float32)
    tp_all = (truth & pred).sum(axis=0)
    fp_all = (~truth & pred).sum(axis=0)
    fn_all = (truth & ~pred).sum(axis=0)
    per_label, f1s, aps = {}, [], []
    for i, name in enumerate(classes):
        tp, fp, fn = int(tp_all[i]), int(fp_all[i]), int(fn_all[i])
        ap = average_precision(truth[:, i], p[:, i]) if len(truth) else None
        row = {"tp": tp, "fp": fp, "fn": fn, "precision": None, "recall": None, "f1": None,
               "average_precision": ap, "support": tp + fn, "threshold": float(ts[i])}
        if tp + fp + fn:
            prec, rec, f1 = _prf(tp, fp, fn)
            row.update(precision=prec, recall=rec, f1=f1)
            f1s.append(f1)
        aps.append(ap)
        per_label[name] = row
    _, _, micro = _prf(int(tp_all.sum()), int(fp_all.sum()), int(fn_all.sum()))
    return {
        "multi_label": True,
        "examples": int(len(truth)),
        "classes": list(classes),
        "thresholds": [float(t) for t in ts],
        "per_label": per_label,
        "micro_f1": micro if len(truth) else None,
        "macro_f1": _mean(f1s),
        "exact_match": float((truth == pred).all(axis=1).mean()) if len(truth) else None,
        "mean_average_precision": _mean(aps),
    }


def best_f1_threshold(y_true, scores) -> float:
    """The threshold (predicted when ``score >= threshold``) with the best F1 on these
    examples: midway between the lowest score it admits and the next lower one, so that
    it sits between the groups it separates. With no positive example, 0.5."""
    curve = _ranked_hits(y_true, scores)
    if curve is None:
        return DEFAULT_THRESHOLD
    s, last_of_group, tp, pos = curve
    predicted = last_of_group + 1
    f1 = 2 * tp / (predicted + pos)          # 2·TP / (TP+FP + TP+FN)
    k = int(np.argmax(f1))                   # first best: the highest such threshold
    cut = s[last_of_group[k]]
    below = s[last_of_group[k] + 1] if last_of_group[k] + 1 < len(s) else 0.0
    mid = np.float32((cut + below) / 2.0)
    # thresholds are applied in float32: the midpoint must not round down onto `below`
    return float(mid if np.float32(below) < mid <= np.float32(cut) else np.float32(cut))


def best_f1_thresholds(label_sets, probs) -> list[float]:
    """Each label's :func:`best_f1_threshold` on this split (``label_sets``: tuples of
    label indices; ``probs``: ``[N, C]``), in label order."""
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError(f"probabilities must be [examples, labels], got shape {p.shape}")
    truth = multi_hot(label_sets, p.shape[1])
    return [best_f1_threshold(truth[:, i], p[:, i]) for i in range(p.shape[1])]


def evaluation_metrics(labels, probs, classes: list[str], decision=None) -> dict:
    """The metrics of an evaluation as its model decides: multi-label (``decision`` a
    :class:`~desktop_ft.core.models.decision.Decision` with ``multi_label``) at the
    decision's per-label thresholds, else single-label."""
    if decision is not None and decision.multi_label:
        return multi_label_metrics(labels, probs, classes,
                                   decision.label_thresholds(len(classes)))
    return single_label_metrics(labels, probs, classes)


def label_set_mistakes(items, label_sets, probs, classes: list[str], thresholds=None) -> list:
    """Multi-label rows with any wrong label: ``item``, ``true`` and ``predicted`` (label
    names), ``missed`` (true labels not predicted), ``added`` (predicted labels not true),
    ``probs`` by label and ``confidence`` (how far the worst wrong label is past its
    threshold, 0…1); the most confident mistakes first."""
    p = np.asarray(probs, dtype=np.float32).reshape(len(label_sets), len(classes))
    ts = np.asarray(thresholds if thresholds is not None else
                    [DEFAULT_THRESHOLD] * len(classes), np.float32)
    truth, pred = multi_hot(label_sets, len(classes)), p >= ts
    out = []
    for row in np.flatnonzero((truth != pred).any(axis=1)):
        wrong = truth[row] != pred[row]
        margin = np.abs(p[row] - ts)[wrong]
        out.append({"item": items[row],
                    "true": [classes[i] for i in np.flatnonzero(truth[row])],
                    "predicted": [classes[i] for i in np.flatnonzero(pred[row])],
                    "missed": [classes[i] for i in np.flatnonzero(truth[row] & ~pred[row])],
                    "added": [classes[i] for i in np.flatnonzero(~truth[row] & pred[row])],
                    "confidence": float(margin.max()),
                    "probs": {c: float(v) for c, v in zip(classes, p[row])}})
    return sorted(out, key=lambda m: -m["confidence"])
