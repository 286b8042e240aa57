"""Run folders: a checkpoint after every epoch; a run killed mid-epoch resumes and ends
where an uninterrupted run ends; runs are listed, exported again and deleted."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from desktop_ft.cli import main

TRAIN = ["train", "--model", "vgg16", "--weights", "none", "--image-size", "32",
         "--strategy", "full", "--epochs", "4", "--batch-size", "2", "--lr", "1e-4",
         "--seed", "7", "--no-feature-cache", "--schedule", "cosine", "--warmup", "0.25"]


def env():
    # Deterministic kernels, so two runs with the same seed compute the same numbers.
    return {**os.environ, "TF_DETERMINISTIC_OPS": "1", "TF_CPP_MIN_LOG_LEVEL": "3",
            "PYTHONUNBUFFERED": "1"}


def model_weights(path):
    """Every model weight of a checkpoint's variables.npz (by variable path)."""
    with np.load(path) as f:
        return {name: f[name] for name in f.files}


def only_run(root):
    [run] = [p for p in root.iterdir() if (p / "run.json").is_file()]
    return run


@pytest.mark.slow
def test_killed_mid_epoch_resumes_to_the_same_weights(image_folder, tmp_path):
    ref_dir, killed_dir = tmp_path / "ref", tmp_path / "killed"
    cmd = [sys.executable, "-m", "desktop_ft", *TRAIN, "--data", str(image_folder)]
    # (train needs --export; nothing reads the reference's, so the cheapest format.)
    ref = subprocess.run([*cmd, "--run-dir", str(ref_dir), "--export", str(tmp_path / "o1"),
                          "--formats", "keras", "--json"], capture_output=True, text=True,
                         env=env(), timeout=600)
    assert ref.returncode == 0, ref.stderr[-2000:]
    ref_summary = json.loads(ref.stdout.strip().splitlines()[-1])

    proc = subprocess.Popen([*cmd, "--run-dir", str(killed_dir), "--export",
                             str(tmp_path / "o2")], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env())
    seconds = []
    for line in proc.stdout:
        if line.startswith("Epoch ") and "/4 " in line and "s  loss" in line:
            seconds.append(float(line.split()[2].rstrip("s")))
            if len(seconds) == 2:
                break
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:    # epoch 2's checkpoint is written…
        runs = list(killed_dir.glob("*/run.json"))
        if runs and json.loads(runs[0].read_text())["epochs_done"] == 2:
            break
        time.sleep(0.05)
    time.sleep(min(seconds) / 2)          # …and epoch 3 is half done
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    run = only_run(killed_dir)
    record = json.loads((run / "run.json").read_text())
    assert record["epochs_done"] == 2 and record["status"] == "running"

    assert main(["runs", "--run-dir", str(killed_dir), "--json"]) == 0
    # (Only export.json's "run" is read from the resumed run's export.)
    resumed = subprocess.run([sys.executable, "-m", "desktop_ft", "train", "--resume",
                              str(run), "--export", str(tmp_path / "o2"), "--formats",
                              "keras", "--json"],
                             capture_output=True, text=True, env=env(), timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    summary = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert summary["epochs_run"] == 4 and summary["resumed_from"] == 2
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "finished" and len(record["history"]["loss"]) == 4
    np.testing.assert_allclose(record["history"]["loss"], ref_summary and
                               json.loads((only_run(ref_dir) / "run.json").read_text())
                               ["history"]["loss"], rtol=1e-5)
    # The schedule went on from the optimizer's restored step count, not from step 0.
    ref_lr = json.loads((only_run(ref_dir) / "run.json").read_text())["history"]["lr"]
    assert record["history"]["lr"] == pytest.approx(ref_lr, rel=1e-6)
    assert ref_lr[0] < ref_lr[1] > ref_lr[2] > ref_lr[3]   # warm-up, then cosine decay
    a = model_weights(only_run(ref_dir) / "checkpoints" / "last" / "variables.npz")
    b = model_weights(run / "checkpoints" / "last" / "variables.npz")
    assert a.keys() == b.keys() and len(a) == 28     # full: every VGG16 + head weight
    for key in a:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-5, atol=1e-6, err_msg=key)
    export = json.loads((tmp_path / "o2" / "export.json").read_text())
    assert export["run"] == str(run)


def test_runs_list_export_again_and_delete(image_folder, tmp_path, capsys):
    runs = tmp_path / "runs"
    # (The head alone trains: the export again then also rebuilds the backbone from the
    # run's seed, and must still give the same model.)
    assert main(["train", "--model", "vgg16", "--weights", "none", "--image-size", "32",
                 "--strategy", "head", "--data", str(image_folder), "--epochs", "2",
                 "--batch-size", "8", "--run-dir", str(runs), "--export",
                 str(tmp_path / "first"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    run = only_run(runs)
    assert summary["run"] == str(run)
    assert main(["runs", "--run-dir", str(runs), "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert listed["status"] == "finished" and listed["epochs_done"] == 2
    assert listed["best"]["monitor"] == "val_loss" and listed["bytes"] > 0
    # Export again from the run, without retraining: the same model.
    assert main(["export", str(run), str(tmp_path / "again"), "--json"]) == 0
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert again["epoch"] == 2 and again["parity_max_abs_diff"] < 1e-5
    from desktop_ft.core.export import ExportedModel

    x = [np.full((40, 40, 3), 90, np.uint8)]
    np.testing.assert_allclose(ExportedModel(tmp_path / "first").predict_proba(x),
                               ExportedModel(tmp_path / "again").predict_proba(x), atol=1e-6)
    assert main(["runs", "--run-dir", str(runs), "--delete", run.name]) == 0
    assert not run.exists()
    assert main(["export", str(tmp_path / "nowhere"), str(tmp_path / "x")]) == 1
    assert "neither a desktop-ft run folder" in capsys.readouterr().err
