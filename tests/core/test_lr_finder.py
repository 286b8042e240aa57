"""Learning-rate range test: an exponential sweep whose suggestion lies on the curve, early
stop on divergence, and nothing changed afterwards (variables bit for bit, optimizer,
random state), also when cancelled; the CLI's --json object."""

import json
import random
import threading

import numpy as np
import pytest

from desktop_ft.cli import main
from desktop_ft.core.models import ModelSpec, load_model
from desktop_ft.core.training import TrainJob
from desktop_ft.core.training.lr_finder import (FinderCancelled, find_learning_rate,
                                                steepest, valley)

pytestmark = pytest.mark.usefixtures("narrow_vgg16")
VGG = ModelSpec("vgg16", weights="none", image_size=32)


def head_job(folder, strategy="head"):
    return TrainJob(model=VGG, data=str(folder), strategy=strategy, batch_size=8)


def variables(model):
    import keras
    return [keras.ops.convert_to_numpy(v.value).copy() for v in model.variables]


def test_sweep_is_exponential_and_changes_nothing(image_folder):
    """Head-only on cached features; the model (its BatchNorm-free VGG has frozen and
    trainable variables), its optimizer (absent) and the random state are as before."""
    bundle = load_model(VGG.replace(num_classes=3))
    before = variables(bundle.model)
    random.seed(5)
    np.random.seed(5)
    py_state, np_state = random.getstate(), np.random.get_state()
    points = []
    found = find_learning_rate(head_job(image_folder), sweep=(1e-7, 10, 60), bundle=bundle,
                               on_point=lambda lr, loss: points.append((lr, loss)))
    assert set(found) >= {"curve", "suggestion", "rule"} and found["rule"] == "valley"
    assert found["cached"]
    lrs = [p["lr"] for p in found["curve"]]
    assert len(lrs) >= 20 and lrs[0] == pytest.approx(1e-7)
    ratios = np.diff(np.log(lrs))
    assert np.allclose(ratios, ratios[0])                  # exponential in the rate
    assert lrs[0] < found["suggestion"] < lrs[-1]
    assert points == [(p["lr"], p["loss"]) for p in found["curve"]]
    after = variables(bundle.model)
    assert all(np.array_equal(a, b) for a, b in zip(before, after))
    assert getattr(bundle.model, "optimizer", None) is None
    assert random.getstate() == py_state
    assert all(np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b
               for a, b in zip(np.random.get_state(), np_state))


def test_divergence_stops_early_and_cancel_restores(image_folder):
    bundle = load_model(VGG.replace(num_classes=3))
    before = variables(bundle.model)
    found = find_learning_rate(head_job(image_folder), sweep=(1e-2, 1e6, 60),
                               bundle=bundle)
    assert found["stopped_early"] and len(found["curve"]) < 60
    stop = threading.Event()
    with pytest.raises(FinderCancelled):
        find_learning_rate(head_job(image_folder, strategy="full"), sweep=(1e-7, 10, 30),
                           bundle=bundle, stop=stop, on_point=lambda lr, loss: stop.set())
    after = variables(bundle.model)
    assert all(np.array_equal(a, b) for a, b in zip(before, after))
    assert getattr(bundle.model, "optimizer", None) is None


def test_rules():
    lrs = list(np.logspace(-6, 0, 30))
    losses = [2.0] * 5 + list(np.linspace(2.0, 0.5, 20)) + [0.6, 1, 2, 4, 8]
    v = valley(lrs, losses)
    assert lrs[5] < v < lrs[24]
    bump = [1.0] * 10 + [0.2] + [0.2] * 19
    assert steepest(lrs, bump) in (lrs[9], lrs[10])


def test_cli_json(image_folder, capsys):
    rc = main(["lr-find", "--model", "vgg16", "--weights", "none", "--image-size", "32",
               "--strategy", "head", "--data", str(image_folder), "--batch-size", "8",
               "--steps", "30", "--rule", "steepest", "--json"])
    assert rc == 0
    found = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert found["rule"] == "steepest" and isinstance(found["suggestion"], float)
    assert all(set(p) == {"lr", "loss"} for p in found["curve"])
