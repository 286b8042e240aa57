"""Local keras-hub image checkpoints that are not keras-hub presets: a timm folder and a
Hugging Face transformers Swin folder (made offline, tests/core/hub_folders.py) load
through ``--preset FOLDER`` with the weights of the network they were written from, and
the timm one trains; a folder of another network says, in one line, what to use."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tests.core.hub_folders import write_hf_swin, write_timm_resnet18

from desktop_ft.core.errors import UserError
from desktop_ft.core.models import ModelSpec, architecture_for_folder, load_model
from desktop_ft.core.models.image.entry import TORCH
from desktop_ft.core.training import TrainJob, fine_tune

pytestmark = pytest.mark.slow


def _same_outputs(base, source, size):
    x = np.random.default_rng(3).normal(0, 1, (2, size, size, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(base(x, training=False)),
                               np.asarray(source(x, training=False)), atol=1e-4, rtol=1e-4)


def test_a_timm_folder_loads_and_trains(tmp_path, image_folder):
    folder = tmp_path / "resnet18.a1_in1k"
    source = write_timm_resnet18(folder)
    assert architecture_for_folder(folder) == "resnet"
    job = TrainJob(model=ModelSpec("resnet", preset=str(folder), image_size=32,
                                   num_classes=3),
                   data=str(image_folder), epochs=1, batch_size=8, strategy="head", lr=1e-3)
    result = fine_tune(job, record_run=False)
    bundle = result.bundle
    assert result.epochs_run == 1 and np.isfinite(result.history["loss"]).all()
    assert bundle.weights_source == "keras-hub preset resnet18.a1_in1k"
    assert bundle.spec.image_size == 32            # a CNN takes the size asked for
    np.testing.assert_allclose(bundle.parts["preprocessing"][0], TORCH[0], rtol=1e-6)
    np.testing.assert_allclose(bundle.parts["preprocessing"][1], TORCH[1], rtol=1e-6)
    _same_outputs(bundle.parts["base"], source, 32)


def test_a_hugging_face_swin_folder_loads(tmp_path):
    folder = tmp_path / "swin-tiny"
    source = write_hf_swin(folder)
    assert architecture_for_folder(folder) == "swin"
    bundle = load_model(ModelSpec("swin", preset=str(folder), num_classes=3))
    assert bundle.spec.image_size == 32            # its positional grid's size
    np.testing.assert_allclose(bundle.parts["preprocessing"][1], TORCH[1], rtol=1e-6)
    _same_outputs(bundle.parts["base"], source, 32)


def test_a_folder_of_another_network_says_what_to_use(tmp_path):
    timm = tmp_path / "resnet18"
    timm.mkdir()
    (timm / "config.json").write_text(json.dumps({"architecture": "resnet18"}))
    with pytest.raises(UserError) as e:
        load_model(ModelSpec("efficientnet", preset=str(timm), image_size=32))
    assert "timm 'resnet18'" in str(e.value) and "--model resnet" in str(e.value)
    hf = tmp_path / "swin"
    hf.mkdir()
    (hf / "config.json").write_text(json.dumps({"model_type": "swin"}))
    with pytest.raises(UserError, match=r"--model swin \(Swin Transformer"):
        load_model(ModelSpec("vit", preset=str(hf)))
    other = tmp_path / "convnext"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"architecture": "convnext_tiny"}))
    assert architecture_for_folder(other) is None
    with pytest.raises(UserError) as e:
        load_model(ModelSpec("resnet", preset=str(other), image_size=32))
    message = str(e.value)
    assert "'convnext_tiny'" in message and "resnet, efficientnet" in message
    assert "\n" not in message
