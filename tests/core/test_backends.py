"""Keras 3 backends: the tiny VGG16 and the tiny BERT train, stop, evaluate, explain and
export on PyTorch and JAX (CPU), each in its own process; images, and text on one of the
two, without TensorFlow or tensorflow-text importable at all. The strategy tests run on
every backend too."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from desktop_ft.core import backend
from desktop_ft.core.errors import UserError

FLOW = Path(__file__).with_name("backend_flow.py")
OTHERS = [b for b in ("torch", "jax") if backend.installed(b)]
OTHER_BACKENDS = [pytest.param(b, marks=pytest.mark.skipif(b not in OTHERS,
                                                           reason=f"{b} is not installed"))
                  for b in ("torch", "jax")]


@pytest.fixture(scope="module")
def colour_folder(tmp_path_factory):
    """3 classes × 20 coloured squares: enough batches for a few epochs to learn them."""
    from tests.conftest import write_image_folder

    return write_image_folder(tmp_path_factory.mktemp("colours"), per_class=20, seed=5)


@pytest.fixture(scope="module")
def reviews_csv(tmp_path_factory):
    """40 reviews, alternately positive and negative: 8 held out, so that "better than
    chance" (1/2) can be told from luck."""
    import numpy as np

    from tests.conftest import sentence

    rng = np.random.default_rng(2)
    labels = ["pos", "neg"] * 20
    path = tmp_path_factory.mktemp("reviews") / "reviews.csv"
    path.write_text("text,label\n" + "".join(f'"{sentence(rng, y)}",{y}\n' for y in labels))
    return path


@pytest.fixture(scope="module")
def mixing_bert_preset(tmp_path_factory):
    """The tiny BERT whose [CLS] output depends on the sentence (see write_tiny_bert), its
    weights fixed: how fast LoRA learns depends on the random draw (measured, 4 epochs,
    torch: seeds 1 and 2 reached 0.75 and 0.625, an unseeded draw 0.625; seed 3 1.0)."""
    from tests.conftest import write_tiny_bert

    return write_tiny_bert(tmp_path_factory.mktemp("mixing_bert") / "preset", mixing=25,
                           seed=3)


@pytest.fixture(scope="module")
def other_backends(colour_folder, reviews_csv, mixing_bert_preset, tmp_path_factory):
    """Every subprocess of this module, started together: two cores overlap one
    backend's compiling with another's training (measured: 90 s instead of 123 s)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    strategies = Path(__file__).with_name("test_strategies.py")
    procs = {}
    for name in OTHERS:
        out = tmp_path_factory.mktemp(f"flow_{name}")
        commands = {
            "strategies": [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(strategies), "-k", "moves or int8 or two_phase"],
            # On torch in bfloat16, as `auto` trains on a GPU: Grad-CAM once failed there
            # (PyTorch cannot hand bfloat16 gradients to NumPy). VGG16's layers at a few
            # channels: the backend is the point (alone, jax 65 -> 38 CPU-s, torch 24 -> 11).
            "images": [sys.executable, str(FLOW), "images", str(colour_folder),
                       str(out / "images"), "--no-tensorflow", "--narrow-vgg16",
                       f"--precision={'mixed_bfloat16' if name == 'torch' else 'auto'}"],
            # Text needs no TensorFlow: the whole flow runs without it (ONNX by PyTorch's
            # exporter); on jax the same model is then exported with it too (the
            # SavedModel by TensorFlow), one training for both.
            "text": [sys.executable, str(FLOW), "text", str(reviews_csv), str(out / "text"),
                     str(mixing_bert_preset), "--no-tensorflow",
                     *(["--then-with-tensorflow"] if name == "jax" else [])],
        }
        own = {**env, "KERAS_BACKEND": name}
        if name == "jax":     # tiny models: XLA's compile time dominates (−25 % measured)
            own["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} " \
                               "--xla_backend_optimization_level=0".strip()
        for kind, cmd in commands.items():
            procs[name, kind] = subprocess.Popen(cmd, env=own, stdout=subprocess.PIPE,
                                                 stderr=subprocess.PIPE, text=True)
    done: dict = {}

    def result(name: str, kind: str) -> tuple[int, str, str]:
        if (name, kind) not in done:
            out, err = procs[name, kind].communicate(timeout=900)
            done[name, kind] = (procs[name, kind].returncode, out, err)
        return done[name, kind]

    yield result
    for proc in procs.values():
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def flow(result, name: str, kind: str) -> dict:
    code, out, err = result(name, kind)
    assert code == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.parametrize("name", OTHER_BACKENDS)
def test_images_without_tensorflow(name, other_backends):
    out = flow(other_backends, name, "images")
    assert out["backend"] == name and out["device"] == f"{name} · CPU"
    assert out["params"] < 1e6        # the narrow VGG16 (a silent fallback would be 14.7 M)
    assert out["precision"] == ("mixed_bfloat16" if name == "torch" else "float32")
    assert not out["tensorflow_imported"]
    assert out["stopped"] == {"reason": "stopped by user", "batches": 1, "epochs_run": 1}
    assert out["epochs_run"] == 3 and len(out["history"]["val_loss"]) == 3
    assert out["cache_cut"] == ["block4_pool"]        # the feature cache, as on TensorFlow
    # It learns: the training loss falls, held-out accuracy is above chance (1/3).
    loss = out["history"]["loss"]
    assert loss[-1] < 0.9 * loss[0], loss
    assert out["accuracy"] >= 0.5, out["history"]
    # Everything that needs no TensorFlow, and a record of what was left out and why.
    assert out["files"] == ["README.md", "export.json", "labels.json", "model.keras"]
    assert out["export"]["formats_written"] == ["keras"]
    assert out["export"]["formats_not_written"] == {"saved_model": "needs TensorFlow installed"}
    assert out["export"]["backend"] == name
    assert out["explained"] == ["heatmap", "label", "layer", "probs"]
    assert out["reloaded_diff"] < 1e-6


@pytest.mark.skipif("jax" not in OTHERS, reason="jax is not installed")
def test_text_with_savedmodel_written_by_tensorflow(other_backends):
    out = flow(other_backends, "jax", "text")
    assert out["backend"] == "jax"
    assert out["stopped"]["reason"] == "stopped by user" and out["stopped"]["epochs_run"] == 2
    assert out["epochs_run"] == 4 and out["resumed_from"] == 1
    # The SavedModel comes from TensorFlow in a subprocess; its answers match this
    # backend's model, on every text whose ids TensorFlow's tokenizer reproduces.
    tf_export = out["with_tensorflow"]
    assert tf_export["export"]["formats_written"] == ["saved_model", "keras"]
    assert tf_export["export"]["parity_max_abs_diff"] < 1e-4
    assert tf_export["export"]["backend"] == "jax"
    assert tf_export["export"]["tokenizer"]["matches_app"]
    assert "saved_model" in tf_export["files"] and "tokenizer.json" in tf_export["files"]
    assert out["explained"] == ["label", "probs", "scores", "tokens"]


@pytest.mark.parametrize("name", OTHER_BACKENDS)
def test_text_without_tensorflow(name, other_backends):
    """Train, stop, resume, evaluate, explain and export with neither tensorflow nor
    tensorflow_text importable: model.keras, tokenizer.json and model.onnx (PyTorch's
    exporter; on JAX from model.keras in a torch process)."""
    out = flow(other_backends, name, "text")
    assert out["backend"] == name and not out["tensorflow_imported"]
    assert out["stopped"]["reason"] == "stopped by user" and out["stopped"]["epochs_run"] == 2
    assert out["epochs_run"] == 4 and out["resumed_from"] == 1
    # It learns, through the stop and the resume: the training loss falls, held-out
    # accuracy is above chance (1/2; 6 of 8 or more).
    loss = out["history"]["loss"]
    assert len(loss) == 4 and loss[-1] < 0.9 * loss[0], out["history"]
    assert out["history"]["val_loss"][-1] < out["history"]["val_loss"][0], out["history"]
    assert out["accuracy"] >= 0.75, out["history"]
    assert out["files"] == ["README.md", "adapters.lora.h5", "export.json", "labels.json",
                            "model.keras", "model.onnx", "tokenizer.json"]
    assert out["export"]["formats_written"] == ["keras", "onnx"]
    assert out["export"]["formats_not_written"] == {"saved_model": "needs TensorFlow installed"}
    assert out["onnx_parity"] < 1e-5
    assert out["export"]["tokenizer"]["matches_app"]
    assert out["explained"] == ["label", "probs", "scores", "tokens"]
    if name == "jax":
        assert out["export"]["onnx_written_by"].startswith("torch")


@pytest.mark.parametrize("name", OTHER_BACKENDS)
def test_strategy_tests_pass_on_backend(name, other_backends):
    """What moves and what stays bit-identical (BitFit, LoRA, int8 + LoRA, two-phase)
    holds on this backend too: the strategy tests, run under it."""
    code, out, _ = other_backends(name, "strategies")
    assert code == 0, out[-3000:]
    assert "4 passed" in out


def test_backend_choice():
    assert backend.requested("pytorch") == "torch"
    assert backend.requested("TF") == "tensorflow"
    with pytest.raises(UserError, match="Unknown backend 'theano'"):
        backend.requested("theano")
    from desktop_ft.core import runtime

    runtime.configure()
    assert backend.select(None) == backend.active() == "tensorflow"
    with pytest.raises(UserError, match="restart with --backend"):
        backend.select("jax")


def test_missing_backend_says_how_to_install(monkeypatch):
    monkeypatch.setattr(backend, "installed", lambda name: name != "torch")
    with pytest.raises(UserError, match=r'desktop-ft\[torch\]'):
        backend.select("torch")


@pytest.mark.skipif("torch" not in OTHERS, reason="torch is not installed")
def test_cli_refuses_distributed_on_torch_before_starting(image_folder, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "desktop_ft.cli", "train", "--backend", "torch",
         "--distributed", "--model", "vgg16", "--weights", "none", "--image-size", "32",
         "--data", str(image_folder), "--export", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "TF_CONFIG": '{"cluster": {"worker": ["localhost:1"]}, '
                                         '"task": {"type": "worker", "index": 0}}'})
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.count("\n") == 1 and "not available on torch" in proc.stderr
    assert "one GPU" in proc.stderr and "--backend jax" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_distributed_is_refused_on_torch_only(monkeypatch):
    monkeypatch.setattr(backend, "name", lambda: "torch")
    assert "TensorFlow's and JAX's" in backend.unsupported(distributed=True)
    assert backend.unsupported(distributed=False) is None
    assert backend.unsupported(True, "jax") is None
    assert backend.unsupported(True, "tensorflow") is None


def test_savedmodel_needs_tensorflow_says_so(monkeypatch, tmp_path):
    from desktop_ft.core.export import ExportedModel

    monkeypatch.setattr(backend, "installed", lambda name: not name.startswith("tensorflow"))
    (tmp_path / "saved_model").mkdir()
    with pytest.raises(UserError, match="needs TensorFlow: pip install tensorflow"):
        ExportedModel(tmp_path)


def test_gradient_of_mixed_precision_tensors_is_float32():
    """Explainers take gradients of bfloat16 feature maps under mixed precision (``auto``
    on a GPU); they come back as float32 NumPy arrays (this process's backend; the torch
    flow above covers PyTorch, where bfloat16 could not reach NumPy at all)."""
    import keras
    import ml_dtypes
    import numpy as np

    x = np.full((2, 3), 1.5, ml_dtypes.bfloat16)
    grad = backend.gradient(lambda t: keras.ops.sum(t * t), x)
    assert grad.dtype == np.float32 and np.allclose(grad, 3.0)


@pytest.mark.skipif("torch" not in OTHERS or not backend.tensorflow_available(),
                    reason="needs torch and TensorFlow")
def test_int8_from_torch_is_calibrated_on_training_inputs_and_measured(image_folder,
                                                                       tmp_path):
    """An int8 LiteRT export from the torch backend (written by TensorFlow in a
    subprocess) is calibrated on training inputs, not the parity noise, and its held-out
    accuracy is recorded beside the float model's, as on TensorFlow. (vgg16's layers at a
    few channels each: the calibration is the point.)"""
    from tests.core.image_presets import narrow_vgg16_cli

    out = tmp_path / "out"
    proc = subprocess.run(
        [*narrow_vgg16_cli("torch"), "train", "--backend", "torch", "--model",
         "vgg16", "--weights", "none", "--image-size", "32", "--epochs", "1",
         "--batch-size", "4", "--seed", "1", "--data", str(image_folder), "--run-dir",
         str(tmp_path / "runs"), "--export", str(out), "--formats", "keras,litert"],
        capture_output=True, text=True, timeout=900,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads((out / "export.json").read_text())
    int8 = record["formats"]["litert_int8"]
    assert record["backend"] == "torch"
    assert record["trainable_params"] + record["frozen_params"] < 10**6   # narrow
    assert int8["calibrated_on"]["inputs"] == "training" and \
        int8["calibrated_on"]["examples"] >= 10
    assert int8["validation_examples"] >= 3 and 0.0 <= int8["accuracy"] <= 1.0
    assert "float_accuracy" in int8 and "int8 LiteRT" in (out / "README.md").read_text()
