"""fine_tune: frozen weights stay bit-identical, unfrozen ones move, stop works mid-epoch,
early stopping, NaN detection, evaluation."""

import threading

import numpy as np
import pytest

from desktop_ft.core.errors import UserError
from desktop_ft.core.models import ModelSpec, load_model
from desktop_ft.core.observer import Observer
from desktop_ft.core.training import (TrainJob, fine_tune, resolve_learning_rate,
                                      single_label_metrics)

VGG = ModelSpec("vgg16", weights="none", image_size=32)


class Recorder(Observer):
    def __init__(self, stop_at_batch=None, stop=None):
        self.batches, self.epochs, self.status, self.begin = [], [], [], None
        self.stop_at_batch, self.stop = stop_at_batch, stop

    def on_train_begin(self, info):
        self.begin = info

    def on_batch(self, epoch, batch, logs):
        self.batches.append((epoch, batch, logs))
        assert all(isinstance(v, float) for v in logs.values())
        if self.stop_at_batch is not None and len(self.batches) == self.stop_at_batch:
            self.stop.set()

    def on_epoch(self, epoch, logs):
        self.epochs.append((epoch, logs))

    def on_status(self, message):
        self.status.append(message)


def weights_by_layer(model):
    return {l.name: [w.copy() for w in l.get_weights()] for l in model.layers if l.weights}


def test_frozen_layers_stay_identical_and_unfrozen_ones_move(image_folder):
    job = TrainJob(model=VGG, data=str(image_folder), strategy="partial", unfreeze_last=1,
                   patterns=[("freeze", "block5_conv1")], epochs=1, batch_size=8)
    from desktop_ft.core.training import prepare

    bundle, scan = prepare(job)
    before = weights_by_layer(bundle.model)
    rec = Recorder()
    result = fine_tune(job, rec, bundle=bundle, scan=scan)
    after = weights_by_layer(result.bundle.model)
    for name in before:
        same = all(np.array_equal(a, b) for a, b in zip(before[name], after[name]))
        should_train = name in ("block5_conv2", "block5_conv3", "head_output")
        assert same != should_train, f"{name}: changed={not same}, expected {should_train}"
    assert result.stop_reason == "completed" and result.epochs_run == 1
    assert rec.begin["steps_per_epoch"] == 3 and len(rec.batches) == 3
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "seconds"} <= set(rec.epochs[0][1])
    assert result.evaluation["examples"] == 6   # 20 % of 8 per class, stratified


def test_learns_an_easy_task_and_evaluates(binary_image_folder):
    job = TrainJob(model=ModelSpec("vgg16", weights="none", image_size=32), seed=1,
                   data=str(binary_image_folder), strategy="full", epochs=6, batch_size=4,
                   lr=1e-4, val_split=0.25)
    # No run folder (test_runs.py covers them): a fully trained VGG16's checkpoints are
    # 1-2 GB of writing over six epochs.
    result = fine_tune(job, record_run=False)
    assert result.bundle.model.output_shape == (None, 1)
    hist = result.history
    assert hist["loss"][-1] < hist["loss"][0]
    ev = result.evaluation
    assert ev["classes"] == ["blue", "red"]
    assert sum(map(sum, ev["confusion_matrix"])) == ev["examples"] == 4
    # Learned: better than chance (1/2) on the held-out images (measured: 4 of 4).
    assert ev["accuracy"] >= 0.75, ev


def test_stop_mid_epoch_keeps_the_model_usable(image_folder):
    stop = threading.Event()
    rec = Recorder(stop_at_batch=2, stop=stop)
    job = TrainJob(model=VGG, data=str(image_folder), epochs=5, batch_size=4)
    result = fine_tune(job, rec, stop)
    assert result.stop_reason == "stopped by user"
    assert len(rec.batches) == 2            # the batch in flight finished, no more
    assert result.epochs_run <= 1
    probs = result.bundle.predict_proba([np.zeros((40, 40, 3), np.uint8)])
    assert probs.shape == (1, 3)
    assert result.evaluation is not None


def test_early_stopping_restores_best(image_folder):
    job = TrainJob(model=VGG, data=str(image_folder), epochs=30, batch_size=8,
                   early_stopping=1, lr=1e-12, strategy="head")
    result = fine_tune(job)
    assert result.stop_reason == "early stopping" and result.epochs_run < 30


def test_nan_loss_is_a_clear_error(image_folder):
    job = TrainJob(model=VGG, data=str(image_folder), epochs=2, batch_size=8, lr=1e12,
                   strategy="full", optimizer="sgd")
    with pytest.raises(UserError, match="diverged"):
        fine_tune(job)


def test_everything_frozen_is_refused(image_folder):
    job = TrainJob(model=VGG, data=str(image_folder), epochs=1,
                   patterns=[("freeze", "*")])
    with pytest.raises(UserError, match="nothing would train"):
        fine_tune(job)


def test_job_validation_and_defaults():
    with pytest.raises(UserError, match="epochs"):
        TrainJob(epochs=0)
    with pytest.raises(UserError, match="optimizer"):
        TrainJob(optimizer="rmsprop")
    bert = TrainJob(model=ModelSpec("bert", preset="x"), strategy="partial")
    assert bert.optimizer_name() == "adamw" and TrainJob().optimizer_name() == "adam"
    with pytest.raises(UserError, match="Unknown strategy"):
        TrainJob(strategy="everything")
    job = TrainJob(model=VGG, patterns=[("freeze", "a*")])
    assert TrainJob.from_dict(job.to_dict()) == job


def test_text_training_on_tiny_bert_csv(tiny_bert_preset, text_csv):
    job = TrainJob(model=ModelSpec("bert", preset=str(tiny_bert_preset), seq_len=16),
                   data=str(text_csv), strategy="full", epochs=2, batch_size=8, lr=1e-3)
    from desktop_ft.core.training import prepare

    bundle, scan = prepare(job)
    emb = bundle.model.backbone.get_layer("token_embedding").get_weights()[0].copy()
    result = fine_tune(job, bundle=bundle, scan=scan)
    assert result.epochs_run == 2 and result.classes == ["neg", "pos"]
    assert not np.array_equal(emb, bundle.model.backbone.get_layer("token_embedding")
                              .get_weights()[0])


def test_default_learning_rate_follows_the_tree():
    """Few trainable parameters take the larger rate whatever the strategy is called."""
    bundle = load_model(ModelSpec("vgg16", weights="none", image_size=32, num_classes=3))
    job = TrainJob(model=bundle.spec, strategy=None)
    assert bundle.tree.strategy == "full"       # random weights: everything trains
    assert resolve_learning_rate(job, bundle.tree)[0] == 1e-4
    bundle.tree.apply_strategy("head")
    assert resolve_learning_rate(job, bundle.tree)[0] == 1e-3
    bundle.tree.set_trainable("block5", True)   # a third of VGG16
    assert resolve_learning_rate(job, bundle.tree)[0] == 1e-4
    two_phase = TrainJob(model=bundle.spec, strategy=None, two_phase=True, epochs=4)
    assert resolve_learning_rate(two_phase, bundle.tree)[0] == 1e-3
    explicit = TrainJob(model=bundle.spec, strategy=None, lr=0.5)
    assert resolve_learning_rate(explicit, bundle.tree) == (0.5, "set by you")


def test_pretrained_weights_load_with_only_the_head_trainable(tmp_path):
    import keras

    source = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    path = tmp_path / "w.weights.h5"
    source.save_weights(str(path))
    bundle = load_model(ModelSpec("vgg16", weights=str(path), image_size=32, num_classes=3))
    assert bundle.tree.strategy == "head" and bundle.tree.totals()[0] == 1539


def test_single_label_metrics_keep_the_accuracy_keys():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    ev = single_label_metrics([0, 1, 1], probs, ["a", "b"])
    assert ev["accuracy"] == pytest.approx(2 / 3)
    assert ev["confusion_matrix"] == [[1, 0], [1, 1]]
    assert ev["per_class_accuracy"] == {"a": 1.0, "b": 0.5}


def test_absurd_settings_are_refused_before_starting(image_folder, capsys):
    from desktop_ft.cli import main
    from desktop_ft.core.training.job import check_memory

    t0 = __import__("time").monotonic()
    assert main(["train", "--model", "vgg16", "--weights", "none", "--image-size", "100000",
                 "--data", str(image_folder), "--export", "nowhere"]) == 1
    err = capsys.readouterr().err
    assert "GiB to train, more than this machine's" in err and "lower the image size" in err
    assert __import__("time").monotonic() - t0 < 10
    job = TrainJob(model=ModelSpec("vgg16", weights="none", image_size=224), batch_size=64)
    with pytest.raises(UserError, match="try batch size 26"):
        check_memory(job, total_bytes=2 << 30)
    check_memory(job, total_bytes=64 << 30)   # fits: no error


@pytest.mark.parametrize("feature_cache", [False, True])
def test_files_deleted_or_spoiled_during_training_are_skipped(tmp_path, feature_cache):
    """Files the scan accepted disappear or turn to garbage once training has begun:
    each is skipped (weight 0 in its batch, left out of the evaluation) and reported,
    and training runs all its epochs. With the feature cache they change while the
    features are computed: after that, neither training nor the evaluation (which reads
    the cached validation features) opens them again."""
    from tests.conftest import write_image_folder

    folder = write_image_folder(tmp_path / "data", per_class=8)
    victims = {}

    class Vandal(Recorder):
        def on_status(self, message):
            super().on_status(message)
            if message.startswith("Computing features"):
                self.strike()

        def on_train_begin(self, info):
            super().on_train_begin(info)
            self.strike()

        def strike(self):
            if victims:
                return
            files = sorted(folder.rglob("*.*"))
            for path in files[::5]:          # train and validation files alike
                path.unlink()
                victims[str(path)] = "deleted during training"
            files[1].write_bytes(b"not an image any more")
            victims[str(files[1])] = "unreadable since the scan"

    rec = Vandal()
    job = TrainJob(model=VGG, data=str(folder), epochs=2, batch_size=4, strategy="head",
                   feature_cache=feature_cache, class_weights=True)
    result = fine_tune(job, rec)
    summary = result.summary()
    assert summary["epochs_run"] == 2 and result.stop_reason == "completed"
    assert all(np.isfinite(v) for v in result.history["loss"])
    skipped = {s["path"]: s["reason"] for s in summary["skipped_files"]}
    assert skipped and set(skipped) <= set(victims)
    for path, reason in skipped.items():
        assert reason.startswith(victims[path])
    assert any(f"Skipped {p}" in m for p in skipped for m in rec.status)
    assert not set(victims) & set(result.eval_items)
    assert result.evaluation["examples"] == len(result.eval_items) == len(result.eval_labels)
    if feature_cache:      # evaluated from the cached features, the skipped left out
        assert result.bundle.model.predict_function is None


def test_out_of_memory_in_a_step_is_one_line_and_the_model_stays_usable(image_folder,
                                                                        monkeypatch):
    import keras
    import tensorflow as tf

    def oom(self, *args, **kwargs):
        raise tf.errors.ResourceExhaustedError(
            None, None, "OOM when allocating tensor with shape[8,64,32,32] {{node conv}}")

    bundle = load_model(VGG)
    monkeypatch.setattr(keras.Model, "fit", oom)
    job = TrainJob(model=VGG, data=str(image_folder), epochs=1, batch_size=8, strategy="head")
    with pytest.raises(UserError) as e:
        fine_tune(job, bundle=bundle)
    assert str(e.value).startswith("Out of memory at batch size 8, image size 32")
    assert "try batch size 4" in str(e.value) and "{{node" not in str(e.value)
    monkeypatch.undo()
    probs = bundle.predict_proba([np.zeros((32, 32, 3), np.uint8)])
    assert np.isfinite(probs).all()


def test_a_discarded_models_graphs_are_released(image_folder):
    """TensorFlow's gradient registry kept every fit's traced training graph — and with
    it ~130 functions and the model's weights and optimizer slots — for the whole
    session; the engine drops what fit registered, so a discarded run leaves nothing."""
    import gc

    from tensorflow.python.eager import context
    from tensorflow.python.framework import ops

    def functions() -> int:
        gc.collect()
        return len(context.context().list_function_names())

    job = TrainJob(model=VGG, data=str(image_folder), epochs=1, batch_size=8, strategy="full")
    fine_tune(job, record_run=False)          # what the first run sets up for the session
    before, registered = functions(), set(ops._gradient_registry._registry)
    result = fine_tune(job, record_run=False)
    assert result.epochs_run == 1
    del result
    assert functions() <= before
    assert set(ops._gradient_registry._registry) == registered


def test_gradient_entries_of_overlapping_tasks_are_dropped_when_the_last_ends():
    """An int8 layer's forward pass registers a gradient function too (a prediction of a
    quantized model kept its graph). Tasks overlap in the window's threads: an entry
    stays while any task is open — a trace in progress elsewhere may still need it."""
    import keras
    from tensorflow.python.framework import ops

    from desktop_ft.core import runtime

    def custom_gradients() -> set:
        return {k for k in ops._gradient_registry._registry if k.startswith("CustomGradient")}

    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16), keras.layers.Dense(2)])
    model.quantize("int8")
    before = custom_gradients()
    with runtime.traced_gradients_released():            # a long task (training)…
        with runtime.traced_gradients_released():        # …and a short one beside it
            model.predict(np.zeros((2, 8), "float32"), verbose=0)
        assert custom_gradients() > before
    assert custom_gradients() == before

