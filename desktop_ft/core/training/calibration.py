"""Calibration of single-label probabilities by temperature scaling (Guo et al., 2017).

After training, one number ``T`` is fitted on the validation split: the probabilities
``p`` become ``softmax(log p / T)`` (:meth:`desktop_ft.core.models.decision.Decision.
calibrated`), which leaves every answer as it was and makes the top probability mean
what it says — of the inputs answered with 80 %, about 80 % right. ``T > 1`` softens an
overconfident model, ``T < 1`` sharpens an underconfident one.

:func:`fit_temperature` minimises the validation negative log-likelihood over ``T``;
:func:`expected_calibration_error` (ECE) measures the gap between confidence and
accuracy over equal-width confidence bins; :func:`calibrate` does both and returns the
:class:`Decision` the trained model carries, with the record ``export.json`` keeps.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> logits = rng.normal(size=(2000, 3)) * 3
    >>> true_probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    >>> labels = [int(rng.choice(3, p=p)) for p in true_probs]
    >>> sharp = np.exp(logits * 2) / np.exp(logits * 2).sum(1, keepdims=True)  # T = 0.5
    >>> round(fit_temperature(labels, sharp), 1)
    2.0
"""

from __future__ import annotations

import math

BINS = 15
# Fewer validation examples than this fit no temperature (one or two examples would set
# it to a bound).
MIN_EXAMPLES = 10
# The search's bounds on T.
T_MIN, T_MAX = 0.05, 20.0
_TINY = 1e-12


def _log_probs(probs):
    import numpy as np

    return np.log(np.clip(np.asarray(probs, dtype=np.float64), _TINY, 1.0))


def _nll(log_p, y, temperature: float) -> float:
    """Mean negative log-likelihood of the labels ``y`` under ``softmax(log_p / T)``."""
    import numpy as np

    z = log_p / temperature
    z = z - z.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(z).sum(axis=1))
    return float(np.mean(log_norm - z[np.arange(len(y)), y]))


def fit_temperature(labels, probs) -> float:
    """The temperature ``T`` in [:data:`T_MIN`, :data:`T_MAX`] that minimises the mean
    negative log-likelihood of ``labels`` under the calibrated ``probs`` ``[N, C]``.

    The NLL is convex in ``1/T`` (a log-sum-exp of a linear function minus a linear
    one), hence unimodal in ``log T``: a golden-section search over ``log T`` finds the
    minimum to a relative precision of about 1e-4 in ~40 evaluations. No examples: 1."""
    import numpy as np

    y = np.asarray(labels, dtype=np.int64)
    if not len(y):
        return 1.0
    log_p = _log_probs(probs)
    lo, hi = math.log(T_MIN), math.log(T_MAX)
    g = (math.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = _nll(log_p, y, math.exp(a)), _nll(log_p, y, math.exp(b))
    while hi - lo > 1e-4:
        if fa <= fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = _nll(log_p, y, math.exp(a))
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = _nll(log_p, y, math.exp(b))
    best = math.exp((lo + hi) / 2)
    # A flat NLL (e.g. every row uniform) has no preferred T: keep the model's own.
    return 1.0 if _nll(log_p, y, 1.0) <= _nll(log_p, y, best) else best


def _bin_of(confidence, bins: int):
    """Bin index of each confidence: bin ``k`` holds (k/bins, (k+1)/bins]."""
    import numpy as np

    return np.clip(np.ceil(np.asarray(confidence) * bins).astype(np.int64) - 1, 0, bins - 1)


def reliability_bins(labels, probs, bins: int = BINS) -> list[dict]:
    """The reliability diagram's points: for each non-empty equal-width bin of top
    probability, ``{"lower", "upper", "confidence" (mean), "accuracy", "count"}``."""
    import numpy as np

    y = np.asarray(labels, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    if not len(y):
        return []
    confidence, right = probs.max(axis=1), probs.argmax(axis=1) == y
    which = _bin_of(confidence, bins)
    out = []
    for k in range(bins):
        mask = which == k
        if mask.any():
            out.append({"lower": k / bins, "upper": (k + 1) / bins,
                        "confidence": float(confidence[mask].mean()),
                        "accuracy": float(right[mask].mean()), "count": int(mask.sum())})
    return out


def expected_calibration_error(labels, probs, bins: int = BINS) -> float:
    """ECE: over equal-width bins of the top probability, the examples' share times
    |accuracy − mean confidence|, summed (0: calibrated; no examples: 0)."""
    n = len(labels)
    return float(sum(b["count"] / n * abs(b["accuracy"] - b["confidence"])
                     for b in reliability_bins(labels, probs, bins))) if n else 0.0


def calibrate(decision, labels, raw_probs, fit_on: str = "validation"):
    """``decision`` with the temperature fitted on ``labels`` and the uncalibrated
    ``raw_probs``, and ``calibration``: ECE before and after, the examples, the split,
    the reliability diagram's bins before and after — or ``T = 1`` and ``why`` when the
    split cannot calibrate (too few examples, or none answered wrongly or rightly: the
    likelihood then keeps falling towards a bound) or the fitted ``T`` would not lower
    the error."""
    import numpy as np

    y = np.asarray(labels, dtype=np.int64)
    raw = np.asarray(raw_probs, dtype=np.float32)
    before = expected_calibration_error(y, raw)
    record = {"fit_on": fit_on, "examples": int(len(y)), "ece_before": round(before, 6)}
    right = float((raw.argmax(axis=1) == y).mean()) if len(y) else 0.0
    why = None
    if len(y) < MIN_EXAMPLES:
        why = f"{len(y)} {fit_on} examples; a temperature is fitted on {MIN_EXAMPLES} or more"
    elif right in (0.0, 1.0):
        why = (f"every {fit_on} example was answered {'rightly' if right else 'wrongly'}: "
               "no mistake to measure confidence against")
    if why is not None:
        return decision.replace(temperature=1.0, calibration={
            **record, "ece_after": record["ece_before"], "why": why})
    temperature = fit_temperature(y, raw)
    after_probs = decision.replace(temperature=temperature).calibrated(raw)
    after = expected_calibration_error(y, after_probs)
    if after >= before:
        # The likelihood's best T can move a few confident mistakes' bins at the cost of
        # the rest on a small split: the error shown is never made worse.
        return decision.replace(temperature=1.0, calibration={
            **record, "ece_after": record["ece_before"], "why": (
                f"the fitted temperature {temperature:.3g} did not lower the calibration "
                f"error ({before:.3f} → {after:.3f})")})
    return decision.replace(temperature=round(temperature, 6), calibration={
        **record, "ece_after": round(after, 6),
        "nll_before": round(_nll(_log_probs(raw), y, 1.0), 6),
        "nll_after": round(_nll(_log_probs(raw), y, temperature), 6),
        "reliability": {"before": _rounded(reliability_bins(y, raw)),
                        "after": _rounded(reliability_bins(y, after_probs))}})


def not_calibrated(decision, why: str):
    """``decision`` with ``T = 1`` and the reason no temperature was fitted."""
    return decision.replace(temperature=1.0, calibration={"fit_on": None, "why": why})


def _rounded(bins: list[dict]) -> list[dict]:
    return [{k: round(v, 4) if isinstance(v, float) else v for k, v in b.items()}
            for b in bins]


def fit_calibration(state) -> None:
    """After single-label training: the temperature fitted on the validation split's
    probabilities, into ``state.bundle.decision`` (and so into run.json, the export and
    every probability the app shows); without a validation split ``T = 1`` and the
    record says why. A multi-label model is left as it is (its thresholds are fitted on
    validation instead)."""
    from desktop_ft.core import distribution, interrupts
    from desktop_ft.core.training.held_out import held_out_probs

    bundle, val = state.bundle, state.val_split
    if bundle.multi_label or interrupts.abandoned(state.stop) or not distribution.is_chief():
        return
    if val is None or not len(val):
        bundle.decision = not_calibrated(bundle.decision, "no validation split to fit a "
                                         "temperature on: probabilities are as trained")
        state.observer.on_status("Not calibrated: no validation split.")
        return
    raw, _, labels = held_out_probs(state, val)
    bundle.decision = calibrate(bundle.decision, labels, raw)
    c = bundle.decision.calibration
    if c.get("why"):
        state.observer.on_status(f"Not calibrated: {c['why']}.")
    else:
        state.observer.on_status(
            f"Calibrated on {c['examples']} validation examples: temperature "
            f"{bundle.decision.temperature:.3g}, expected calibration error "
            f"{c['ece_before']:.3f} → {c['ece_after']:.3f}.")


def with_unknown_below(decision, value: float | None):
    """``decision`` answering "unknown" below the top probability ``value`` (None: as it
    was). A multi-label model answers each label at its threshold instead."""
    from desktop_ft.core.errors import UserError

    if value is None:
        return decision
    if decision.multi_label:
        raise UserError("A confidence below which to answer 'unknown' applies to models "
                        "with one label per example; a multi-label model answers each "
                        "label at its own threshold (no label passing is its 'none').")
    return decision.replace(unknown_below=float(value))


def selective_accuracy(labels, probs, unknown_below: float) -> dict:
    """What answering "unknown" below ``unknown_below`` does on labelled data: how many
    were answered unknown, the share answered (coverage) and the accuracy on those."""
    import numpy as np

    y = np.asarray(labels, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float32)
    answered = probs.max(axis=1) >= unknown_below if len(y) else np.zeros(0, bool)
    right = probs.argmax(axis=1) == y if len(y) else np.zeros(0, bool)
    n = int(answered.sum())
    return {"unknown_below": unknown_below, "examples": int(len(y)),
            "answered_unknown": int(len(y) - n),
            "coverage": n / len(y) if len(y) else None,
            "accuracy_answered": float(right[answered].mean()) if n else None,
            "accuracy_all": float(right.mean()) if len(y) else None}


def selective_line(s: dict) -> str:
    """One line for :func:`selective_accuracy`'s result."""
    if not s["examples"]:
        return "No examples to answer."
    acc = "n/a" if s["accuracy_answered"] is None else f"{s['accuracy_answered']:.1%}"
    return (f"Unknown below {s['unknown_below']:.0%}: {s['answered_unknown']} of "
            f"{s['examples']} answered unknown; accuracy on the other "
            f"{s['examples'] - s['answered_unknown']}: {acc} (coverage "
            f"{s['coverage']:.0%}; accuracy on all {s['accuracy_all']:.1%}).")
