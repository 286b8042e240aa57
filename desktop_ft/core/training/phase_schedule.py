"""The Keras side of :mod:`desktop_ft.core.training.schedules`: :class:`PhaseSchedule`."""

from __future__ import annotations

import math

import keras

from desktop_ft.core.training.schedules import (ONE_CYCLE_DIV, ONE_CYCLE_FINAL_DIV,
                                                SCHEDULES)


@keras.saving.register_keras_serializable(package="desktop_ft")
class PhaseSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """``peak`` shaped by ``kind`` over ``total_steps``; the first ``warmup`` fraction of
    them ramps up (linearly from 0; one-cycle: by a half cosine from peak / 25)."""

    def __init__(self, peak: float, total_steps: int, kind: str = "constant",
                 warmup: float = 0.0):
        if kind not in SCHEDULES:
            raise ValueError(f"unknown schedule {kind!r}")
        self.peak, self.kind, self.warmup = float(peak), kind, float(warmup)
        self.total_steps = max(int(total_steps), 1)
        self.warmup_steps = int(round(self.warmup * self.total_steps))

    def __call__(self, step):
        ops = keras.ops
        step = ops.cast(step, "float32")
        peak, w = self.peak, float(self.warmup_steps)
        rest = float(max(self.total_steps - self.warmup_steps, 1))
        # Progress after the warm-up: 0 at its end, 1 one step past the phase's last
        # (as Hugging Face's linear schedule: the last step still moves the weights).
        p = ops.clip((step - w) / rest, 0.0, 1.0)
        cosine = 0.5 * (1.0 + ops.cos(math.pi * p))
        if self.kind == "constant":
            after = ops.ones_like(p) * peak
        elif self.kind == "cosine":
            after = peak * cosine
        elif self.kind == "linear":
            after = peak * (1.0 - p)
        else:
            low = peak / (ONE_CYCLE_DIV * ONE_CYCLE_FINAL_DIV)
            after = low + (peak - low) * cosine
        if not self.warmup_steps:
            return after
        # (step + 1): the first step already moves the weights.
        ramp = ops.minimum((step + 1.0) / w, 1.0)
        if self.kind == "one-cycle":
            start = peak / ONE_CYCLE_DIV
            rising = start + (peak - start) * 0.5 * (1.0 - ops.cos(math.pi * ramp))
        else:
            rising = peak * ramp
        return ops.where(step < w, rising, after)

    def get_config(self) -> dict:
        return {"peak": self.peak, "total_steps": self.total_steps, "kind": self.kind,
                "warmup": self.warmup}
