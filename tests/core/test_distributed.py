"""Multi-worker training from TF_CONFIG: two worker processes on 127.0.0.1, the chief
exports."""

import json
import os
import socket
import subprocess

import pytest
from tests.core.image_presets import narrow_vgg16_cli


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_workers_on_localhost(image_folder, tmp_path):
    ports = [free_port(), free_port()]
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    for index in range(2):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
               "TF_CONFIG": json.dumps({"cluster": cluster,
                                        "task": {"type": "worker", "index": index}})}
        procs.append(subprocess.Popen(     # (vgg16's layers at a few channels each)
            [*narrow_vgg16_cli(), "train", "--distributed", "--model", "vgg16",
             "--weights", "none", "--image-size", "32", "--data", str(image_folder),
             "--strategy", "head", "--epochs", "2", "--batch-size", "8", "--export",
             str(tmp_path / f"out{index}"), "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env))
    outputs = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=420)
            outputs.append((p.returncode, out, err))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for rc, _out, err in outputs:
        assert rc == 0, err[-3000:]
    chief = json.loads(outputs[0][1].strip().splitlines()[-1])
    other = json.loads(outputs[1][1].strip().splitlines()[-1])
    assert chief["epochs_run"] == other["epochs_run"] == 2
    assert chief["trainable_params"] + chief["frozen_params"] < 10**6     # narrow
    assert chief["export"] and chief["parity_max_abs_diff"] < 1e-5
    assert other["export"] is None and not (tmp_path / "out1").exists()
    assert "MultiWorkerMirroredStrategy" in outputs[0][2]
    # Both workers applied the same updates: identical final training loss.
    assert chief["epochs"][-1]["loss"] == pytest.approx(other["epochs"][-1]["loss"], rel=1e-5)
