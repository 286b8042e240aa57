"""The model's probabilities on a held-out split after training, and what is fitted on
the validation split's: each label's threshold of a multi-label model (best F1), kept in
``bundle.decision`` — and so in run.json, the export and every answer the app gives.

The probabilities of a split are computed once per training (``state.held_out``): the
thresholds and the evaluation on the validation split share them, on the cached
validation features when the last phase trained on cached features.
"""

from __future__ import annotations

import dataclasses

from desktop_ft.core import distribution, interrupts
from desktop_ft.core.data.datasets import readable_inputs
from desktop_ft.core.models.decision import Decision
from desktop_ft.core.training import feature_cache


def held_out_probs(state, split) -> tuple:
    """(uncalibrated probabilities ``[N, C]``, items, labels) of ``split`` from the
    trained model — through the trained suffix on the cached validation features when
    there are some for it (``full(x) == suffix(prefix(x))``), else from the files or
    texts (a file gone since the scan is left out and reported)."""
    key = id(split)
    if key in state.held_out:
        return state.held_out[key]
    bundle, job = state.bundle, state.job
    cached = feature_cache.probs_from_features(
        bundle, *state.cached_val[0], split, state.scan.skipped, job.batch_size) \
        if state.cached_val and split is state.val_split else None
    if cached is None:
        inputs, items, labels = readable_inputs(bundle.input_kind, split.items, split.labels,
                                                state.skip)
        # Uncalibrated, as the cached features' are: the temperature is fitted on them.
        uncalibrated = dataclasses.replace(bundle, decision=Decision(
            multi_label=bundle.multi_label))
        cached = uncalibrated.predict_proba(inputs, batch_size=job.batch_size), items, labels
    state.held_out[key] = cached
    return cached


def fit_thresholds(state) -> None:
    """A multi-label model: each label's threshold for the best F1 on the validation
    split, into ``bundle.decision`` (0.5 for every label without a validation split, or
    for a label without a positive example there). A single-label model is left as
    it is."""
    from desktop_ft.core.training.metrics import best_f1_thresholds

    bundle, val = state.bundle, state.val_split
    if not bundle.multi_label or interrupts.abandoned(state.stop) or \
            not distribution.is_chief():
        return
    if val is None or not len(val):
        bundle.decision = bundle.decision.replace(multi_label=True, thresholds=None)
        state.observer.on_status("No validation split to choose the labels' thresholds "
                                 "on: each label is answered from a probability of 0.5.")
        return
    state.observer.on_status("Choosing each label's threshold on the validation split…")
    probs, _, labels = held_out_probs(state, val)
    if not len(labels):
        return
    thresholds = best_f1_thresholds(labels, probs)
    bundle.decision = bundle.decision.replace(multi_label=True, thresholds=thresholds)
    classes = bundle.classes or [str(i) for i in range(len(thresholds))]
    state.observer.on_status("Thresholds (best F1 on validation): " + ", ".join(
        f"{c} {t:.2f}" for c, t in zip(classes, thresholds)))
