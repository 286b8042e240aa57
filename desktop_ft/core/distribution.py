"""Training on several devices: ``tf.distribute`` strategies on TensorFlow (several GPUs,
or several workers from ``TF_CONFIG``), ``keras.distribution.DataParallel`` on JAX (every
device of one machine, or of several processes joined by ``keras.distribution.
initialize``), one device on PyTorch.

Several JAX processes: each reads its own part of every global batch (the batch one
process would read, cut from the epoch's fixed order: :meth:`~desktop_ft.core.data.
batches._Batches.shard`), so a run gives the same updates on any number of processes.
Process 0 writes the run folder, checkpoints and the export; the others write nothing.
When training ends every process hands its model back to one local device and leaves
the group (:func:`end_training`), so process 0 evaluates and exports alone."""

from __future__ import annotations

import contextlib
import json
import os
import sys

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
    on JAX with several devices, Keras's own ``DataParallel`` distribution."""

    def __init__(self, replicas: int = 1, description: str = "one device", *,
                 processes: int = 1, process_index: int = 0, devices: list | None = None):
        self.num_replicas_in_sync = replicas
        self.description = description
        self.processes, self.process_index = processes, process_index
        self.devices = devices or []
        self.ended = False        # end_training ran: one local device from here on

    def scope(self):
        return contextlib.nullcontext()


# (The flags of `train --distributed` on JAX set these, Keras's own variables.)
JAX_VARIABLES = ("KERAS_DISTRIBUTION_JOB_ADDRESSES", "KERAS_DISTRIBUTION_NUM_PROCESSES",
                 "KERAS_DISTRIBUTION_PROCESS_ID")


def _other_backend_distribution(distributed: bool) -> SingleProcess:
    import keras

    from desktop_ft.core import backend

    problem = backend.unsupported(distributed)
    if problem:
        raise UserError(problem)
    if keras.backend.backend() != "jax":
        return SingleProcess()
    if distributed:
        _join_jax_processes()
    import jax

    devices = keras.distribution.list_devices()      # every process's, in process order
    processes = jax.process_count()
    if len(devices) < 2:
        return SingleProcess()
    # Each process feeds its own part of the batch (batches.shard): Keras must not cut
    # the data again.
    keras.distribution.set_distribution(keras.distribution.DataParallel(
        devices=devices, auto_shard_dataset=False))
    kind = devices[0].split(":")[0].upper()
    across = f" in {processes} processes" if processes > 1 else ""
    return SingleProcess(len(devices), f"{len(devices)} × {kind}{across} ("
                         f"{', '.join(devices)}; keras.distribution.DataParallel)",
                         processes=processes, process_index=jax.process_index(),
                         devices=devices)


def _join_jax_processes() -> None:
    """``keras.distribution.initialize()`` from Keras's variables (or SLURM's, which JAX
    reads itself) — before JAX runs anything. On CPUs the processes exchange gradients
    through gloo (JAX has no other CPU collectives)."""
    import jax
    import keras

    if not os.environ.get(JAX_VARIABLES[0]) and "SLURM_JOB_ID" not in os.environ:
        raise UserError("--distributed on JAX needs the processes' addresses: set "
                        f"{', '.join(JAX_VARIABLES)} (or --job-addresses, --num-processes, "
                        "--process-id), or launch under SLURM's srun; see README.md.")
    for name in JAX_VARIABLES[1:]:
        value = os.environ.get(name)
        if value is not None and not value.strip().isdigit():
            raise UserError(f"{name} must be a whole number, got {value!r}.")
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:
        keras.distribution.initialize()
    except (RuntimeError, ValueError) as e:
        raise UserError(f"Could not join the other training processes: {e}") from e


def multi_process() -> bool:
    """Several processes train this run together now (JAX ``--distributed``)."""
    return isinstance(_strategy, SingleProcess) and _strategy.processes > 1 and \
        not _strategy.ended


def process_count() -> int:
    if isinstance(_strategy, SingleProcess):
        return _strategy.processes
    if _strategy is not None and is_multiworker(_strategy):
        cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
        return sum(len(v) for v in cluster.values()) or 1
    return 1


def training_devices() -> dict:
    """What ``--json`` and ``export.json`` record: ``processes``, ``devices`` (how
    many trained) and ``device_names``."""
    strategy = _strategy
    if isinstance(strategy, SingleProcess):
        names = strategy.devices
        count = max(1, len(names))
    else:
        count = getattr(strategy, "num_replicas_in_sync", 1) if strategy else 1
        try:    # (TensorFlow's default strategy raises instead of listing one device)
            names = list(strategy.extended.worker_devices) if count > 1 else []
        except (AttributeError, RuntimeError):
            names = []
    return {"processes": process_count(), "devices": count, "device_names": list(names)}


def shard_dataset(dataset, batch_size: int):
    """Under JAX's ``DataParallel``: ``dataset`` reads this process's part of every
    global batch, padded to a whole batch (weight 0) so every device gets equal parts.
    Elsewhere ``dataset`` unchanged."""
    if not isinstance(_strategy, SingleProcess) or _strategy.num_replicas_in_sync < 2:
        return dataset
    n = _strategy.num_replicas_in_sync
    if batch_size % n:
        raise UserError(f"--batch-size {batch_size} does not split evenly over {n} devices: "
                        f"use a multiple of {n} (e.g. {batch_size + n - batch_size % n}).")
    shard = getattr(dataset, "shard", None)
    if shard is None:
        raise UserError("This data pipeline cannot be split over several JAX devices.")
    return shard(_strategy.process_index, _strategy.processes)


def end_training(model) -> None:
    """After ``fit`` under JAX's ``DataParallel``: put the model's weights on this
    process's first device and drop the distribution (evaluation, try-it and the export
    then run on one device, on batches of any size); with several processes also leave
    the group, all together, so that process 0 may export alone while the others end."""
    if not isinstance(_strategy, SingleProcess) or _strategy.num_replicas_in_sync < 2:
        return
    import keras

    keras.distribution.set_distribution(None)
    compat.localize_jax_variables(model.variables)
    if _strategy.processes > 1:
        import jax

        jax.distributed.shutdown()
    # (Who this process was and what trained stay recorded: is_chief, training_devices.)
    _strategy.num_replicas_in_sync = 1
    _strategy.ended = True


def reset() -> None:
    """Forget the decided distribution: the next :func:`distribution_strategy` decides
    again (``bench/gpu.py`` between runs; models built before keep their placement)."""
    global _strategy
    if isinstance(_strategy, SingleProcess) and not multi_process():
        import keras

        keras.distribution.set_distribution(None)
        _strategy = None


def leave_after_failure(message: str, code: int = 1) -> None:
    """End this process at once with ``message``: a process of a JAX group whose peer
    died. A normal exit would wait in ``jax.distributed``'s shutdown barrier for the
    dead peer until its heartbeat times out (100 s) and then abort."""
    print(f"desktop-ft: error: {message}", file=sys.stderr, flush=True)
    sys.stdout.flush()
    os._exit(code)


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
    """True unless this process is not the one that writes: process 1… of a JAX group,
    or a non-chief worker named by TF_CONFIG."""
    if isinstance(_strategy, SingleProcess) and _strategy.process_index:
        return False
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
