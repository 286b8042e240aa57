"""core/training/metrics.py against scikit-learn on random data, and the per-label
thresholds against a brute-force search."""

import numpy as np
import pytest
from sklearn import metrics as sk

from desktop_ft.core.training.metrics import (best_f1_thresholds, multi_hot,
                                              multi_label_metrics, single_label_metrics)


def _softmax_rows(rng, n, c):
    z = rng.normal(size=(n, c))
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def _check_single(y, probs, classes):
    m = single_label_metrics(y, probs, classes)
    pred = probs.argmax(axis=1)
    present = sorted(set(y) | set(pred))
    assert m["accuracy"] == pytest.approx(sk.accuracy_score(y, pred))
    assert m["confusion_matrix"] == sk.confusion_matrix(y, pred,
                                                        labels=range(len(classes))).tolist()
    assert m["macro_f1"] == pytest.approx(sk.f1_score(y, pred, average="macro",
                                                       zero_division=0))
    assert m["balanced_accuracy"] == pytest.approx(sk.balanced_accuracy_score(y, pred))
    p, r, f, s = sk.precision_recall_fscore_support(y, pred, labels=present, zero_division=0)
    for k, i in enumerate(present):
        row = m["per_class"][classes[i]]
        assert (row["precision"], row["recall"], row["f1"]) == pytest.approx((p[k], r[k], f[k]))
        assert row["support"] == s[k]
    return m


def test_binary_metrics_match_sklearn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    # informative but imperfect scores, so that precision, recall and AUC are all non-trivial
    p1 = np.clip(0.35 * y + rng.uniform(0, 0.65, 200), 0, 1).astype(np.float32)
    probs = np.stack([1 - p1, p1], axis=1)
    m = _check_single(y, probs, ["neg", "pos"])
    assert m["roc_auc"] == pytest.approx(sk.roc_auc_score(y, p1))
    assert 0.6 < m["roc_auc"] < 1.0
    assert m["top5_accuracy"] is None
    # ties in the scores are counted half, as scikit-learn does
    tied = np.round(p1, 1)
    m = single_label_metrics(y, np.stack([1 - tied, tied], axis=1), ["neg", "pos"])
    assert m["roc_auc"] == pytest.approx(sk.roc_auc_score(y, tied))


def test_multiclass_metrics_match_sklearn_with_top5():
    rng = np.random.default_rng(1)
    classes = [f"c{i}" for i in range(12)]
    y = rng.integers(0, 11, 300)            # class c11 never occurs in the true labels
    probs = _softmax_rows(rng, 300, 12)
    probs[np.arange(300), y] += 0.08        # better than chance
    probs /= probs.sum(axis=1, keepdims=True)
    m = _check_single(y, probs, classes)
    assert m["top5_accuracy"] == pytest.approx(
        sk.top_k_accuracy_score(y, probs, k=5, labels=range(12)))
    assert m["roc_auc"] is None
    assert m["per_class_accuracy"]["c11"] is None
    # the keys other code reads are kept
    assert {"examples", "accuracy", "per_class_accuracy", "confusion_matrix",
            "classes"} <= set(m)


def test_fewer_than_ten_classes_have_no_top5_and_absent_class_has_none():
    m = single_label_metrics([0, 1, 1], [[0.9, 0.1, 0], [0.6, 0.4, 0], [0.2, 0.8, 0]],
                             ["a", "b", "c"])
    assert m["top5_accuracy"] is None and m["roc_auc"] is None
    assert m["per_class"]["c"] == {"precision": None, "recall": None, "f1": None, "support": 0}
    assert m["per_class"]["a"]["precision"] == 0.5 and m["per_class"]["b"]["recall"] == 0.5
    assert m["macro_f1"] == pytest.approx(2 / 3)


def test_empty_evaluation():
    m = single_label_metrics([], np.zeros((0, 3)), ["a", "b", "c"])
    assert m["examples"] == 0 and m["accuracy"] is None and m["macro_f1"] is None
    m = multi_label_metrics([], np.zeros((0, 2)), ["a", "b"], None)
    assert m["examples"] == 0 and m["micro_f1"] is None and m["mean_average_precision"] is None


def _random_label_sets(rng, n, c):
    """Label 0 is common, the last label never occurs; about 1 row in 10 has no label."""
    sets = []
    for _ in range(n):
        row = tuple(i for i in range(c - 1) if rng.random() < (0.5 if i == 0 else 0.25))
        sets.append(row)
    return sets


def test_multi_label_metrics_match_sklearn():
    rng = np.random.default_rng(2)
    classes = ["a", "b", "c", "never_predicted", "no_positives"]
    sets = _random_label_sets(rng, 250, len(classes))
    truth = multi_hot(sets, len(classes))
    probs = np.clip(0.3 * truth + rng.uniform(0, 0.7, truth.shape), 0, 1).astype(np.float32)
    probs[:, 3] = np.minimum(probs[:, 3], 0.2)      # never reaches its threshold
    ts = [0.5, 0.6, 0.4, 0.5, 0.95]
    m = multi_label_metrics(sets, probs, classes, ts)
    pred = probs >= np.asarray(ts, np.float32)
    assert m["multi_label"] is True and m["examples"] == 250
    assert m["micro_f1"] == pytest.approx(sk.f1_score(truth, pred, average="micro"))
    assert m["exact_match"] == pytest.approx(sk.accuracy_score(truth, pred))
    used = [i for i in range(5) if truth[:, i].any() or pred[:, i].any()]
    assert m["macro_f1"] == pytest.approx(sk.f1_score(truth, pred, average="macro",
                                                       labels=used, zero_division=0))
    for i, name in enumerate(classes):
        row = m["per_label"][name]
        assert row["tp"] == int((truth[:, i] & pred[:, i]).sum())
        assert row["fp"] == int((~truth[:, i] & pred[:, i]).sum())
        assert row["fn"] == int((truth[:, i] & ~pred[:, i]).sum())
        assert row["support"] == int(truth[:, i].sum())
        if i in used:
            assert row["precision"] == pytest.approx(
                sk.precision_score(truth[:, i], pred[:, i], zero_division=0))
            assert row["recall"] == pytest.approx(
                sk.recall_score(truth[:, i], pred[:, i], zero_division=0))
            assert row["f1"] == pytest.approx(
                sk.f1_score(truth[:, i], pred[:, i], zero_division=0))
    never = m["per_label"]["never_predicted"]
    assert never["tp"] == never["fp"] == 0 and never["fn"] > 0 and never["recall"] == 0.0
    none = m["per_label"]["no_positives"]
    assert none["support"] == 0 and none["average_precision"] is None
    positives = [i for i in range(5) if truth[:, i].any()]
    for i in positives:
        assert m["per_label"][classes[i]]["average_precision"] == pytest.approx(
            sk.average_precision_score(truth[:, i], probs[:, i]))
    assert m["mean_average_precision"] == pytest.approx(
        sk.average_precision_score(truth[:, positives], probs[:, positives], average="macro"))


def _brute_force_best_f1(y, s):
    best = 0.0
    for t in np.unique(s):
        pred = s >= t
        best = max(best, sk.f1_score(y, pred, zero_division=0))
    return best


def test_best_f1_thresholds_match_brute_force():
    rng = np.random.default_rng(3)
    sets = _random_label_sets(rng, 120, 4)
    truth = multi_hot(sets, 4)
    probs = np.clip(0.25 * truth + rng.uniform(0, 0.75, truth.shape), 0, 1).astype(np.float32)
    probs[:10, 1] = 0.5                           # a block of tied scores
    ts = best_f1_thresholds(sets, probs)
    assert len(ts) == 4 and all(0.0 <= t <= 1.0 for t in ts)
    for i in range(3):
        achieved = sk.f1_score(truth[:, i], probs[:, i] >= np.float32(ts[i]))
        assert achieved == pytest.approx(_brute_force_best_f1(truth[:, i], probs[:, i]))
        assert achieved > sk.f1_score(truth[:, i], probs[:, i] >= 0.99, zero_division=0)
    assert ts[3] == 0.5                           # no positives: the plain default
    # the thresholds give multi_label_metrics the same per-label F1
    m = multi_label_metrics(sets, probs, list("abcd"), ts)
    assert m["per_label"]["a"]["f1"] == pytest.approx(
        _brute_force_best_f1(truth[:, 0], probs[:, 0]))


def test_best_f1_threshold_sits_between_separated_groups():
    ts = best_f1_thresholds([(0,), (0,), (), ()], np.array([[0.9], [0.8], [0.3], [0.1]]))
    assert ts == [pytest.approx(0.55)]
    with pytest.raises(ValueError, match="examples, labels"):
        best_f1_thresholds([(0,)], np.array([0.9]))
