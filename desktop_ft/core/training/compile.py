"""Compiling for a run: the optimizer (new, or the previous run's reset — see
:func:`compile_model`), the loss and the accuracy metric for binary or multi-class heads."""

from __future__ import annotations

from desktop_ft.core import runtime
from desktop_ft.core.models import ModelBundle
from desktop_ft.core.training.job import TrainJob


def compile_model(bundle: ModelBundle, job: TrainJob, lr: float, model=None) -> None:
    """Compile with an optimizer in its initial state.

    ``trainable`` changes take effect only after compile(), and a built optimizer cannot
    be reused with a different set of variables ("Unknown variable … can only be called
    for the variables it was originally built with"): then a new optimizer is made. When
    the model trains the very same variables as in its previous run, that run's optimizer
    is reset and reused instead — Keras keeps the traced training graphs of every compile,
    and with them each discarded optimizer's slots (146 MB per run for VGG16 with Adam,
    ``bench/keras_recompile_leak.py``).
    """
    import keras

    model = model or bundle.model
    name = job.optimizer_name()
    opt = _reset_previous_optimizer(model, name, lr)
    if opt is None:
        if name == "adamw":
            opt = keras.optimizers.AdamW(learning_rate=lr, weight_decay=0.01)
        elif name == "sgd":
            opt = keras.optimizers.SGD(learning_rate=lr, momentum=0.9)
        else:
            opt = keras.optimizers.Adam(learning_rate=lr)
    if runtime.mixed_precision_enabled() and "float16" in \
            keras.mixed_precision.global_policy().name:
        opt = keras.optimizers.LossScaleOptimizer(opt)
    if bundle.binary:
        loss = keras.losses.BinaryCrossentropy()
        metric = keras.metrics.BinaryAccuracy(name="accuracy")
    else:
        loss = keras.losses.CategoricalCrossentropy()
        metric = keras.metrics.CategoricalAccuracy(name="accuracy")
    # JAX runs a step op by op unless it is jit-compiled (tens of times slower): always
    # compile there. On TensorFlow and PyTorch, --jit opts in to XLA / torch.compile.
    jit = True if keras.backend.backend() == "jax" else job.jit_compile
    model.compile(optimizer=opt, loss=loss, metrics=[metric], jit_compile=jit)


def _reset_previous_optimizer(model, name: str, lr: float):
    """The model's previous optimizer, back in its initial state (zero moments, zero
    iterations, the new learning rate), if it is of the kind asked for and was built for
    exactly the variables the model trains now; else None."""
    import keras
    import numpy as np

    kinds = {"adamw": keras.optimizers.AdamW, "sgd": keras.optimizers.SGD}
    old = getattr(model, "optimizer", None)
    built_for = getattr(old, "_trainable_variables", None)
    if type(old) is not kinds.get(name, keras.optimizers.Adam) or not old.built or \
            built_for is None or [id(v) for v in built_for] != \
            [id(v) for v in model.trainable_variables]:
        return None
    for v in old.variables:
        v.assign(np.zeros(v.shape, v.dtype))
    old.learning_rate = lr
    return old
