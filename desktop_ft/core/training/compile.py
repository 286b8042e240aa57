"""Compiling for a run: a new optimizer, the loss and the accuracy metric for binary,
multi-class or multi-label heads."""

from __future__ import annotations

from desktop_ft.core import runtime
from desktop_ft.core.models import ModelBundle
from desktop_ft.core.training.job import TrainJob
from desktop_ft.core.training.schedules import resolve_schedule


def compile_model(bundle: ModelBundle, job: TrainJob, lr: float, model=None,
                  total_steps: int = 0):
    """Compile with a new optimizer: ``trainable`` changes take effect only after
    compile(), and a built optimizer cannot be reused with another set of variables.
    With ``total_steps`` (a phase's) the rate follows the job's schedule from ``lr``;
    returns that schedule (None: a constant rate)."""
    import keras

    from desktop_ft.core.training.phase_schedule import PhaseSchedule

    model = model or bundle.model
    schedule = PhaseSchedule(lr, total_steps, *resolve_schedule(job)) if total_steps \
        else None
    name = job.optimizer_name()
    decay = job.weight_decay          # None: AdamW's 0.01, none for SGD
    if name == "adamw":
        opt = keras.optimizers.AdamW(learning_rate=schedule or lr,
                                     weight_decay=0.01 if decay is None else decay)
    elif name == "sgd":
        opt = keras.optimizers.SGD(learning_rate=schedule or lr, momentum=0.9,
                                   weight_decay=decay or None)
    else:
        opt = keras.optimizers.Adam(learning_rate=schedule or lr)
    if runtime.mixed_precision_enabled() and "float16" in \
            keras.mixed_precision.global_policy().name:
        opt = keras.optimizers.LossScaleOptimizer(opt)
    if bundle.binary or bundle.multi_label:
        # Multi-label: one sigmoid per label, each a yes/no; "accuracy" is then the share
        # of (example, label) decisions at 0.5 that are right.
        loss = keras.losses.BinaryCrossentropy(label_smoothing=job.label_smoothing)
        metric = keras.metrics.BinaryAccuracy(name="accuracy")
    else:
        loss = keras.losses.CategoricalCrossentropy(label_smoothing=job.label_smoothing)
        metric = keras.metrics.CategoricalAccuracy(name="accuracy")
    # JAX runs a step op by op unless it is jit-compiled (tens of times slower): always
    # compile there. On TensorFlow and PyTorch, --jit opts in to XLA / torch.compile.
    jit = True if keras.backend.backend() == "jax" else job.jit_compile
    model.compile(optimizer=opt, loss=loss, metrics=[metric], jit_compile=jit)
    if keras.backend.backend() == "tensorflow":
        # The optimizer's slots, made now and eagerly. Left to the first step, TensorFlow
        # creates them inside the traced function, lifts them out and traces the whole
        # step a second time: a 2-layer BERT's first BitFit epoch took 12.7 s, not 5.1 s
        # (measured; bench/first_step.py, tests/core/test_compile.py).
        model.optimizer.build(model.trainable_variables)
    return schedule
