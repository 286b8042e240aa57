"""The CLI end to end on tiny models: layers, scan, train (+export), evaluate, predict,
and errors as one line with a non-zero exit."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from desktop_ft.cli import main


def last_json(capsys):
    out = capsys.readouterr().out.strip().splitlines()
    return json.loads(out[-1])


def test_layers_prints_tree_and_totals(capsys):
    assert main(["layers", "--model", "vgg16", "--weights", "none", "--image-size", "32",
                 "--strategy", "partial", "--unfreeze-last", "1", "--freeze",
                 "block5_conv3"]) == 0
    out = capsys.readouterr().out
    assert "[~] block5" in out and "[ ] block5_conv3" in out and "[x] block5_conv1" in out
    assert "Trainable: 4,720,129 of 14,715,201 parameters" in out


def test_layers_json_for_bert(tiny_bert_preset, capsys):
    assert main(["layers", "--model", "bert", "--preset", str(tiny_bert_preset), "--strategy",
                 "bitfit", "--json"]) == 0
    d = last_json(capsys)
    states = {n["path"]: n["state"] for n in d["nodes"]}
    assert states["transformer_layer_0/self_attention_layer/query"] == "partial"
    assert states["head"] == "on" and d["strategy"] == "bitfit"


def test_layers_of_a_text_architecture_offline_with_random_weights(capsys):
    """Any listed architecture can be looked at offline, from its default (base-size)
    configuration; ALBERT-base is the smallest (one encoder layer shared 12 times)."""
    assert main(["layers", "--model", "albert", "--weights", "none", "--seq-len", "16"]) == 0
    out = capsys.readouterr().out
    assert "[x] group_0_inner_layer_0" in out and "[x] embedding_projection" in out
    assert "Trainable: 11,684,353 of 11,684,353 parameters" in out
    assert main(["layers", "--model", "albert", "--seq-len", "16"]) == 1
    assert "ALBERT needs --preset" in capsys.readouterr().err


def test_train_evaluate_predict_images(image_folder, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["train", "--model", "vgg16", "--weights", "none", "--image-size", "32",
               "--data", str(image_folder), "--strategy", "head", "--epochs", "2",
               "--batch-size", "8", "--seed", "3", "--export", str(out), "--json"])
    assert rc == 0
    summary = last_json(capsys)
    assert summary["classes"] == ["blue", "green", "red"] and summary["epochs_run"] == 2
    assert len(summary["epoch_seconds"]) == 2 and summary["trainable_params"] == 1539
    assert summary["export"] == str(out) and summary["parity_max_abs_diff"] < 1e-5
    assert (out / "saved_model" / "saved_model.pb").exists()
    record = json.loads((out / "export.json").read_text())
    assert record["train_job"]["epochs"] == 2 and len(record["history"]["loss"]) == 2

    assert main(["evaluate", str(out), "--data", str(image_folder), "--json"]) == 0
    ev = last_json(capsys)
    assert ev["examples"] == 24 and sum(map(sum, ev["confusion_matrix"])) == 24

    img = tmp_path / "x.png"
    Image.fromarray(np.full((50, 70, 3), 200, np.uint8)).save(img)
    assert main(["predict", str(out), str(img), "--json"]) == 0
    rows = last_json(capsys)
    assert rows[0]["label"] in ("blue", "green", "red")
    assert abs(sum(rows[0]["probs"].values()) - 1) < 1e-5


def test_train_and_predict_text_csv(tiny_bert_preset, text_csv, tmp_path, capsys):
    out = tmp_path / "t"
    assert main(["train", "--model", "bert", "--preset", str(tiny_bert_preset), "--data",
                 str(text_csv), "--seq-len", "16", "--epochs", "1", "--batch-size", "8",
                 "--export", str(out), "--json"]) == 0
    assert last_json(capsys)["classes"] == ["neg", "pos"]
    assert main(["predict", str(out), "so good", "so bad"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("so good: ") and lines[1].startswith("so bad: ")


def test_errors_are_one_line_without_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "desktop_ft", "train", "--model", "vgg16",
                           "--weights", "none", "--data", str(tmp_path / "nowhere"),
                           "--export", str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0, proc.stderr
    assert proc.stderr.startswith("desktop-ft: error: ") and "does not exist" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bad_arguments_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--epochs", "0"])
    assert e.value.code == 2        # argparse's convention for usage errors
    assert "--epochs" in capsys.readouterr().err
    # train needs --export OUT, except to continue a run; argparse says so
    with pytest.raises(SystemExit) as e:
        main(["train", "--data", "photos/"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "required: --export (unless --resume" in err
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    usage = capsys.readouterr().out
    assert "--export OUT [options]" in usage and "--resume RUN_DIR [--export OUT]" in usage
    # An argument refused once the model is built (not by argparse): exit status 1.
    assert main(["layers", "--model", "vgg16", "--weights", "none", "--image-size", "32",
                 "--unfreeze", "nothing_like_this*"]) == 1
    assert "matches no layer" in capsys.readouterr().err


def test_scan_command(image_folder, capsys):
    assert main(["scan", str(image_folder), "--json"]) == 0
    assert last_json(capsys)["counts"] == {"blue": 8, "green": 8, "red": 8}


def test_project_file_replays_a_setup(image_folder, tmp_path, capsys):
    from desktop_ft.core.models import ModelSpec, load_model
    from desktop_ft.core.project import Project, save_project
    from desktop_ft.core.training import TrainJob

    tree = load_model(ModelSpec("vgg16", weights="none", image_size=32, num_classes=3)).tree
    tree.apply_strategy("head")
    tree.set_trainable("block5/block5_conv3", True)
    states = tree.states()
    job = {"model": {"architecture": "vgg16", "weights": "none", "image_size": 32},
           "data": str(image_folder), "epochs": 1, "batch_size": 8, "strategy": None}
    save_project(tmp_path / "p.json", Project(TrainJob.from_dict(job), tree=states))
    assert main(["train", "--project", str(tmp_path / "p.json"), "--export",
                 str(tmp_path / "o"), "--json"]) == 0
    summary = last_json(capsys)
    assert summary["trainable_params"] == 2_359_808 + 1_539
