"""Training on several devices: ``tf.distribute`` strategies on TensorFlow (several GPUs,
or several workers from ``TF_CONFIG``), ``keras.distribution.DataParallel`` on JAX, one
device on PyTorch."""

from __future__ import annotations

import contextlib
import json
import os

from desktop_ft.core import compat
from desktop_ft.core.errors import UserError

_strategy = None


def distribution_strategy(distributed: bool = False):
    """The process's ``tf.distribute`` strategy, decided once.

    ``distributed``: MultiWorkerMirroredStrategy from ``TF_CONFIG`` (must be created
    before any other TensorFlow work). Otherwise MirroredStrategy over several GPUs, or
    over several logical CPU devices when ``DESKTOP_FT_CPU_DEVICES=N`` (to test the
    multi-device path without GPUs), else TensorFlow's default strategy.
    """
    global _strategy
    if _strategy is not None:
        return _strategy
    import keras

    if keras.backend.backend() != "tensorflow":
        _strategy = _other_backend_distribution(distributed)
        return _strategy
    import tensorflow as tf

    if distributed:
        config = os.environ.get("TF_CONFIG")
        if not config:
            raise UserError("--distributed needs the TF_CONFIG environment variable "
                            "(cluster addresses and this worker's task); see README.md.")
        try:
            json.loads(config)
        except ValueError as e:
            raise UserError(f"TF_CONFIG is not valid JSON: {e}") from None
        _strategy = tf.distribute.MultiWorkerMirroredStrategy()
        compat.patch_keras_multiworker_reduce()
        return _strategy
    n_cpu = int(os.environ.get("DESKTOP_FT_CPU_DEVICES", "0") or 0)
    if n_cpu > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        try:
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(n_cpu)])
        except RuntimeError:
            pass   # already initialised: use what exists
        devices = [d.name for d in tf.config.list_logical_devices("CPU")]
        if len(devices) > 1:
            _strategy = tf.distribute.MirroredStrategy(devices)
            return _strategy
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        _strategy = tf.distribute.MirroredStrategy()
    else:
        _strategy = tf.distribute.get_strategy()
    return _strategy


class SingleProcess:
    """What torch and jax use in place of a ``tf.distribute`` strategy: a no-op scope;
    on JAX with several accelerators, Keras's own ``DataParallel`` distribution."""

    def __init__(self, replicas: int = 1, description: str = "one device"):
        self.num_replicas_in_sync = replicas
        self.description = description

    def scope(self):
        return contextlib.nullcontext()


def _other_backend_distribution(distributed: bool) -> SingleProcess:
    import keras

    from desktop_ft.core import backend

    problem = backend.unsupported(distributed)
    if problem:
        raise UserError(problem)
    if keras.backend.backend() == "jax":
        import jax

        accelerators = [d for d in jax.devices() if d.platform != "cpu"]
        if len(accelerators) > 1:
            keras.distribution.set_distribution(
                keras.distribution.DataParallel(devices=accelerators))
            return SingleProcess(len(accelerators), f"{len(accelerators)} × "
                                 f"{accelerators[0].platform.upper()} (keras.distribution."
                                 "DataParallel)")
    return SingleProcess()


def prepare_model_for_multiworker(model) -> None:
    """Keras builds a model's metrics from an all-reduced *eager* batch before ``fit``,
    which MultiWorkerMirroredStrategy cannot do (keras-team/keras#20585): build them
    from this worker's local batch instead (:mod:`desktop_ft.core.compat`)."""
    compat.build_metrics_from_local_batch(model)


def is_multiworker(strategy) -> bool:
    return type(strategy).__name__.startswith(("MultiWorker", "CollectiveAllReduce",
                                               "_CollectiveAllReduce"))


def is_distributed(strategy) -> bool:
    return getattr(strategy, "num_replicas_in_sync", 1) > 1 or is_multiworker(strategy)


def is_chief() -> bool:
    """True unless TF_CONFIG names this process a non-chief worker."""
    config = os.environ.get("TF_CONFIG")
    if not config:
        return True
    task = json.loads(config).get("task", {})
    cluster = json.loads(config).get("cluster", {})
    if task.get("type") == "chief":
        return True
    return task.get("type") == "worker" and task.get("index", 0) == 0 and "chief" not in cluster


def describe_strategy(strategy) -> str:
    if isinstance(strategy, SingleProcess):
        return strategy.description
    n = getattr(strategy, "num_replicas_in_sync", 1)
    if is_multiworker(strategy):
        return f"{n} replicas across workers (MultiWorkerMirroredStrategy)"
    if n > 1:
        kinds = {d.split(":")[-2].split("/")[-1] if ":" in d else d
                 for d in getattr(strategy.extended, "worker_devices", [])}
        kind = "GPU" if any("GPU" in k.upper() for k in kinds) else "CPU"
        return f"{n} × {kind} (MirroredStrategy)"
    return "one device"
