"""JAX beyond one device through ``keras.distribution``: two processes on 127.0.0.1
(gloo CPU collectives) and one process over two logical CPU devices, each against a
plain one-device run of the same job; a process killed in the middle of training.

The subprocesses share a JAX compilation cache: the narrow VGG16's initializers alone
compile 19 XLA programs (~25 CPU-s cold, ~6 warm; measured on this 2-core machine)."""

import json
import os
import socket
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from tests.core.image_presets import narrow_vgg16_cli

from desktop_ft.core import backend

jax_only = pytest.mark.skipif(not backend.installed("jax"), reason="jax is not installed")

# Every global batch is whole (the split leaves 18 training examples): the padded last
# batch a multi-device run would otherwise see weighs its loss over the whole batch.
JOB = ["train", "--backend", "jax", "--model", "vgg16", "--weights", "none",
       "--image-size", "32", "--strategy", "head", "--epochs", "2", "--batch-size", "6",
       "--formats", "keras",
       "--no-feature-cache", "--json"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def jax_env(cache, devices: int = 1) -> dict:
    flags = "--xla_backend_optimization_level=0"     # tiny model: compiling dominates
    if devices > 1:
        flags += f" --xla_force_host_platform_device_count={devices}"
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "XLA_FLAGS": flags,
            "JAX_COMPILATION_CACHE_DIR": str(cache),
            "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
            "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0"}


def train(data, out, env, *extra):
    return subprocess.Popen([*narrow_vgg16_cli("jax"), *JOB, "--data", str(data),
                             "--export", str(out), *extra], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def group(data, tmp, env, n=2, *extra):
    port = free_port()
    return [train(data, tmp / f"out{i}", env, "--distributed", "--job-addresses",
                  f"127.0.0.1:{port}", "--num-processes", str(n), "--process-id", str(i),
                  "--run-dir", str(tmp / f"runs{i}"), *extra) for i in range(n)]


def finish(procs, timeout=600):
    results = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=timeout)
            results.append((p.returncode, out, err))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    return results


def summary(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def weights(folder) -> list:
    """model.keras's weights, read with h5py (no Keras model built in this process)."""
    import io
    import zipfile

    import h5py

    with zipfile.ZipFile(folder / "model.keras") as z:
        data = io.BytesIO(z.read("model.weights.h5"))
    found = []
    with h5py.File(data, "r") as f:
        f.visititems(lambda name, obj: found.append((name, np.asarray(obj)))
                     if isinstance(obj, h5py.Dataset) else None)
    assert found
    return [array for _name, array in sorted(found, key=lambda item: item[0])]


@pytest.fixture(scope="module")
def runs(image_folder, tmp_path_factory):
    """The one-device reference, the two-device process and the two-process group,
    started together (two cores overlap one's compiling with another's training)."""
    tmp = tmp_path_factory.mktemp("jax_distributed")
    cache = tmp_path_factory.mktemp("jax_cache")
    t0 = time.perf_counter()
    procs = {"reference": [train(image_folder, tmp / "reference", jax_env(cache))],
             "devices": [train(image_folder, tmp / "devices", jax_env(cache, devices=2))],
             "processes": group(image_folder, tmp, jax_env(cache))}
    done = {k: finish(v) for k, v in procs.items()}
    for results in done.values():
        for rc, _out, err in results:
            assert rc == 0, err[-3000:]
    return {"tmp": tmp, "cache": cache, "seconds": time.perf_counter() - t0, **done}


@pytest.mark.slow
@jax_only
def test_two_processes_train_as_one_and_only_process_0_writes(runs):
    tmp = runs["tmp"]
    first, second = (summary(out) for _rc, out, _err in runs["processes"])
    assert first["epochs_run"] == second["epochs_run"] == 2
    assert first["train_examples"] and sum(first["train_examples"].values()) == 18
    assert first["processes"] == second["processes"] == 2
    assert first["devices"] == 2 and len(first["device_names"]) == 2
    assert "Training on 2 × CPU in 2 processes" in runs["processes"][0][2]
    # Process 0 wrote the export and the run folder; process 1 nothing at all.
    assert first["export"] and (tmp / "out0" / "model.keras").is_file()
    assert second["export"] is None and second["run"] is None
    assert not (tmp / "out1").exists() and not (tmp / "runs1").exists()
    assert len(list((tmp / "runs0").iterdir())) == 1
    record = json.loads((tmp / "out0" / "export.json").read_text())
    assert record["processes"] == 2 and record["devices"] == 2
    # Each process read half of every batch: together the updates of one process
    # reading whole batches (the same global batches, from the same fixed order).
    for a, b in zip(weights(tmp / "out0"), weights(tmp / "reference")):
        np.testing.assert_allclose(a, b, atol=1e-6)
    reference = summary(runs["reference"][0][1])
    assert reference["processes"] == 1 and reference["devices"] == 1
    assert first["epochs"][0]["loss"] == pytest.approx(reference["epochs"][0]["loss"],
                                                       rel=1e-5)


@pytest.mark.slow
@jax_only
def test_several_devices_of_one_process(runs):
    """Several GPUs of one machine, on two logical CPU devices: the same updates, and
    the status line and export.json name the devices."""
    tmp = runs["tmp"]
    rc, out, err = runs["devices"][0]
    result = summary(out)
    assert "Training on 2 × CPU (cpu:0, cpu:1; keras.distribution.DataParallel)" in err
    assert result["processes"] == 1 and result["devices"] == 2
    record = json.loads((tmp / "devices" / "export.json").read_text())
    assert record["device_names"] == ["cpu:0", "cpu:1"] and record["devices"] == 2
    assert record["device"] == "jax · 2 × CPU"
    assert result["evaluation"]["examples"] == 6       # evaluated on one device after
    for a, b in zip(weights(tmp / "devices"), weights(tmp / "reference")):
        np.testing.assert_allclose(a, b, atol=1e-6)


@pytest.mark.slow
@jax_only
def test_a_killed_process_stops_the_others_with_a_message(runs, image_folder, tmp_path):
    """Process 1 killed in the middle of training: process 0 says why and exits 1 at its
    next step (JAX's own path, after its 100 s heartbeat timeout, aborts with 134),
    leaving its run folder resumable."""
    procs = group(image_folder, tmp_path, jax_env(runs["cache"]), 2, "--epochs", "60")
    epoch_ended = threading.Event()
    lines: list[str] = []

    def watch():
        for line in procs[1].stderr:
            lines.append(line)
            if line.startswith("Epoch 1/"):
                break
        epoch_ended.set()       # (also when process 1 ended before: said below)

    threading.Thread(target=watch, daemon=True).start()
    try:
        epoch_ended.wait(300)
        assert lines and lines[-1].startswith("Epoch 1/"), "".join(lines)[-3000:]
        procs[1].kill()
        killed = time.perf_counter()
        _out, err = procs[0].communicate(timeout=120)
        seconds = time.perf_counter() - killed
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert procs[0].returncode == 1, err[-3000:]
    assert seconds < 90, seconds      # at its next step, not JAX's 100 s heartbeat
    last = err.strip().splitlines()[-1]
    assert last.startswith("desktop-ft: error: process 0 of 2 stopped: ")
    assert "all stop" in last and "--resume" in last
    run = next((tmp_path / "runs0").iterdir())
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "failed" and record["processes"] == 2
    assert not (tmp_path / "out0").exists()


def test_each_process_reads_its_part_of_the_one_process_batch():
    """The shards are cut from the batch one process would read, padded to the whole
    batch with weight-0 examples: the last, short batch too."""
    from desktop_ft.core.data.batches import ArrayBatches

    x = np.arange(10, dtype=np.float32)[:, None]
    y, w = np.arange(10), np.ones(10, np.float32)
    whole = ArrayBatches((x, y, w), 4, seed=3, first_epoch=1)
    parts = [ArrayBatches((x, y, w), 4, seed=3, first_epoch=1).shard(i, 2) for i in (0, 1)]
    assert len(whole) == len(parts[0]) == len(parts[1]) == 3
    for i in range(3):
        wx, wy, ww = whole[i]
        got = [part[i] for part in parts]
        assert all(len(g[1]) == 2 for g in got)          # equal shapes everywhere
        gy = np.concatenate([g[1] for g in got])
        gw = np.concatenate([g[2] for g in got])
        assert list(gy[:len(wy)]) == list(wy) and gw[:len(wy)].all()
        assert not gw[len(wy):].any()                    # padding weighs nothing
    with pytest.raises(ValueError):
        whole.shard(0, 3)


def test_a_run_resumes_only_on_as_many_processes(tmp_path):
    from desktop_ft.core.errors import UserError
    from desktop_ft.core.training.resume import resume_run
    from desktop_ft.core.training.runs import Run

    run = Run.create(tmp_path, job={"epochs": 2}, architecture="vgg16", classes=["a", "b"],
                     split={"train": None, "val": None}, tree={}, peft=None)
    run.record.update(processes=2, epochs_done=1)
    run.mark("failed")
    with pytest.raises(UserError, match=r"trained on 2 process.*\(this is 1\)"):
        resume_run(run.path)


def test_process_1_resumes_a_run_without_writing_to_it(image_folder, tmp_path, monkeypatch):
    """Process 1… of a group resumes from process 0's run folder (shared storage) but
    writes nothing there, and leaves evaluating to process 0. (Two processes resuming a
    killed run were checked by hand: both continued from its last epoch and process 0
    finished it; here one process stands for process 1, to keep the test short.)"""
    import keras

    from desktop_ft.core import distribution
    from desktop_ft.core.models import ModelSpec
    from desktop_ft.core.training import TrainJob, fine_tune
    from desktop_ft.core.training.resume import resume_run
    from tests.core.image_presets import narrow_vgg16

    monkeypatch.setattr(keras.applications, "VGG16", narrow_vgg16)
    job = TrainJob(model=ModelSpec("vgg16", weights="none", image_size=32),
                   data=str(image_folder), strategy="head", epochs=2, batch_size=8)
    run = Path(fine_tune(job, run_dir=tmp_path).run_path)
    record = json.loads((run / "run.json").read_text())
    assert record["processes"] == 1
    record.update(status="failed", epochs_done=1)      # as if stopped after epoch 1
    (run / "run.json").write_text(json.dumps(record))
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    monkeypatch.setattr(distribution, "is_chief", lambda: False)
    result = resume_run(run)
    assert result.resumed_from == 1 and result.epochs_run == 2
    assert result.evaluation is None
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before
