"""Learning-rate schedules: constant, cosine, linear decay and one-cycle, each after an
optional warm-up, over the steps of one fit phase.

:class:`desktop_ft.core.training.phase_schedule.PhaseSchedule` is a Keras
``LearningRateSchedule`` written in ``keras.ops``, so it runs inside the compiled step on
TensorFlow, PyTorch and JAX and is saved with a model (``get_config``). The optimizer
calls it with its own step count, which a checkpoint restores (``optimizer.npz`` holds
``iterations``): a resumed run continues the schedule.

Example (this module imports no Keras; the job's validation reads it):
    >>> from desktop_ft.core.training.phase_schedule import PhaseSchedule
    >>> s = PhaseSchedule(1e-3, total_steps=100, kind="linear", warmup=0.1)
    >>> round(float(s(9)), 6), round(float(s(99)), 6)
    (0.001, 1.1e-05)
"""

from __future__ import annotations

SCHEDULES = ("constant", "cosine", "linear", "one-cycle")
# One-cycle (fastai's fit_one_cycle): it climbs from peak / DIV to the peak during the
# warm-up and anneals to peak / (DIV * FINAL_DIV); without a warm-up fraction it rises
# over the first quarter.
ONE_CYCLE_DIV = 25.0
ONE_CYCLE_FINAL_DIV = 1e4
ONE_CYCLE_WARMUP = 0.25


def resolve_schedule(job) -> tuple[str, float]:
    """(kind, warm-up fraction) of ``job``: what it names, else its modality's default
    (constant for both modalities: measured better than the recipes, BENCHMARKS.md)."""
    from desktop_ft.core.models import modality_for

    kind, warmup = modality_for(job.model.architecture).schedule
    if job.schedule is not None:
        kind, warmup = job.schedule, ONE_CYCLE_WARMUP if job.schedule == "one-cycle" else 0.0
    if job.warmup is not None:
        warmup = job.warmup
    return kind, warmup
