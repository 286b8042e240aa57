"""The monitor: early stopping and the best checkpoint follow validation loss, accuracy or
macro-F1 (computed per epoch into the logs)."""

import numpy as np
import pytest

from desktop_ft.core.errors import UserError
from desktop_ft.core.models import ModelSpec
from desktop_ft.core.training import TrainJob, fine_tune
from desktop_ft.core.training.compare import describe_run
from desktop_ft.core.training.monitor import (improved, labels_from_targets, monitor_mode,
                                              validation_macro_f1)
from desktop_ft.core.training.runs import Run

pytestmark = pytest.mark.usefixtures("narrow_vgg16")


def test_directions_and_refused_names():
    assert monitor_mode("val_loss") == "min" and monitor_mode("loss") == "min"
    assert monitor_mode("val_macro_f1") == monitor_mode("val_accuracy") == "max"
    assert improved("val_macro_f1", 0.6, 0.5) and not improved("val_macro_f1", 0.4, 0.5)
    assert improved("val_loss", 0.4, 0.5) and not improved("val_loss", 0.6, 0.5)
    assert improved("val_accuracy", 0.1, None)
    assert TrainJob().monitor == "val_loss"
    with pytest.raises(UserError, match="--monitor") as e:
        TrainJob(monitor="f1")
    assert "--" not in e.value.window_message and "Stop/keep best by" in e.value.window_message


def test_labels_from_targets():
    assert labels_from_targets(np.array([[1.0], [0.0]]), True, False) == [1, 0]
    assert labels_from_targets(np.eye(3)[[2, 0]], False, False) == [2, 0]
    assert labels_from_targets(np.array([[1, 0, 1], [0, 0, 0]]), False, True) == [(0, 2), ()]


def test_validation_macro_f1_leaves_out_weight_zero_examples():
    class Model:
        def predict_on_batch(self, x):
            return x

    # two real examples (one right, one wrong) and a padded one of weight 0 that is wrong
    x = np.array([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9]], np.float32)
    y = np.array([[1, 0], [0, 1], [1, 0]], np.float32)
    batches = [(x, y, np.array([1, 1, 0], np.float32))]
    # predictions a, a against a, b: F1(a) = 2/3, F1(b) = 0
    assert validation_macro_f1(Model(), batches, False, False) == pytest.approx(1 / 3)


def test_a_run_early_stops_on_validation_macro_f1_and_records_it(image_folder, tmp_path):
    # At a vanishing rate nothing improves: the run stops after the patience of 1 epoch.
    job = TrainJob(model=ModelSpec("vgg16", weights="none", image_size=32),
                   data=str(image_folder), strategy="head", epochs=10, batch_size=8,
                   lr=1e-12, early_stopping=1, monitor="val_macro_f1", seed=2)
    epochs = []

    class Seen:
        def __getattr__(self, name):
            return lambda *a, **k: None

        def on_epoch(self, epoch, logs):
            epochs.append(logs)

    result = fine_tune(job, Seen(), run_dir=tmp_path / "runs")
    assert result.stop_reason == "early stopping" and result.epochs_run == 2
    f1s = result.history["val_macro_f1"]
    assert len(f1s) == 2 and all(0.0 <= v <= 1.0 for v in f1s)
    assert [e["val_macro_f1"] for e in epochs] == pytest.approx(f1s)   # the window sees it
    # the callback's number is the held-out evaluation's macro-F1 (same split, same weights)
    assert result.evaluation["split"] == "val"
    assert f1s[0] == pytest.approx(result.evaluation["macro_f1"], abs=1e-6)
    run = Run.open(result.run_path)
    best = run.record["best"]
    assert run.record["evaluation"]["macro_f1"] == pytest.approx(result.evaluation["macro_f1"])
    described = describe_run(run)            # what runs compared show
    assert described["settings"]["monitor"] == "val_macro_f1"
    assert described["final"]["evaluation_macro_f1"] == run.record["evaluation"]["macro_f1"]
    assert best["monitor"] == "val_macro_f1" and best["epoch"] == 1
    assert best["value"] == pytest.approx(f1s[0]) and best["val_macro_f1"] == best["value"]
    assert result.summary()["monitor"] == "val_macro_f1"
    assert {"macro_f1", "balanced_accuracy", "per_class"} <= set(result.summary()["evaluation"])


def test_the_best_checkpoint_follows_a_rising_macro_f1():
    """Higher is better for macro-F1: "best" is written when it rises, not when it falls
    (a loss's rule would keep epoch 1)."""
    from types import SimpleNamespace

    import keras

    from desktop_ft.core.training.runs import checkpoint_callback

    saved = []

    class Checkpoints:
        def save(self, which, bundle, optimizer, epoch, states, keys=None):
            saved.append((which, epoch))
            return set()

    run = SimpleNamespace(checkpoints=Checkpoints(), record={}, save=lambda: None)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    callback = checkpoint_callback(run, SimpleNamespace(model=model), "val_macro_f1", {})
    model.stop_training = False           # (fit sets it)
    callback.set_model(model)
    for epoch, f1 in enumerate([0.2, 0.5, 0.4]):
        callback.on_epoch_begin(epoch)
        callback.on_epoch_end(epoch, {"val_loss": 1.0 - epoch * 0.1, "val_macro_f1": f1})
    assert [epoch for which, epoch in saved if which == "best"] == [1, 2]
    assert run.record["best"] == {"epoch": 2, "monitor": "val_macro_f1", "value": 0.5,
                                  "val_accuracy": None, "val_macro_f1": 0.5}


def test_multi_label_validation_macro_f1_uses_the_best_thresholds():
    """Well ranked but timid probabilities (all under 0.5) score as the thresholds chosen
    after training will make them score: 1.0, not 0."""
    class Model:
        def predict_on_batch(self, x):
            return x

    x = np.array([[0.4, 0.1], [0.3, 0.35], [0.1, 0.3], [0.05, 0.05]], np.float32)
    y = np.array([[1, 0], [1, 1], [0, 1], [0, 0]], np.float32)
    batches = [(x, y, np.ones(4, np.float32))]
    assert validation_macro_f1(Model(), batches, False, True) == pytest.approx(1.0)
