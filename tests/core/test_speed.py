"""Feature cache, augmentation, precision and multi-device training."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from desktop_ft.core import runtime
from desktop_ft.core.errors import UserError
from desktop_ft.core.models import ModelSpec, check_spec, load_model
from desktop_ft.core.observer import Observer
from desktop_ft.core.training import TrainJob, feature_cache, fine_tune

VGG = dict(architecture="vgg16", weights="none", image_size=32)


class Status(Observer):
    def __init__(self):
        self.lines = []

    def on_status(self, message):
        self.lines.append(message)


@pytest.mark.parametrize("strategy,cut", [("head", "head_pool"), ("partial", "block4_pool")])
def test_cache_cut_follows_the_tree_and_full_equals_suffix_of_prefix(strategy, cut):
    bundle = load_model(ModelSpec(**VGG, num_classes=3))
    bundle.tree.apply_strategy(strategy, unfreeze_last=1)
    bundle.tree.apply_to_model()
    plan = feature_cache.plan_feature_cache(bundle, 10, 1 << 30)
    assert plan.cut == cut
    prefix, suffix = feature_cache.split_model(bundle, plan.cut)
    x = np.random.default_rng(0).normal(size=(3, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(suffix(prefix(x))), np.asarray(bundle.model(x)),
                               rtol=1e-5, atol=1e-6)
    assert suffix.get_layer("head_output") is bundle.model.get_layer("head_output")


def test_cache_respects_budget_switch_and_unfrozen_start():
    bundle = load_model(ModelSpec(**VGG, num_classes=3))
    bundle.tree.apply_strategy("head")
    bundle.tree.apply_to_model()
    plan = feature_cache.plan_feature_cache(bundle, 10_000_000, 1 << 20)
    assert plan.cut is None and "cache budget" in plan.reason
    assert feature_cache.plan_feature_cache(bundle, 10, 1 << 30, enabled=False).reason == \
        "feature cache turned off"
    bundle.tree.apply_strategy("full")
    bundle.tree.apply_to_model()
    assert "block1_conv1 trains" in feature_cache.plan_feature_cache(bundle, 10, 1 << 30).reason


def test_cached_training_matches_normal_training_and_updates_the_full_model(image_folder):
    """Same seed, same data: training on cached features gives the weights normal
    training gives (the head sees identical inputs), and the full model holds them."""
    results = {}
    for cache in (True, False):
        status = Status()
        job = TrainJob(model=ModelSpec(**VGG), data=str(image_folder), strategy="head",
                       epochs=3, batch_size=8, seed=4, feature_cache=cache,
                       early_stopping=2)
        results[cache] = (fine_tune(job, status), status.lines)
    cached, lines = results[True]
    plain, plain_lines = results[False]
    assert cached.feature_cache[0]["cut"] == "head_pool"
    assert any("features cached after head_pool" in line and "faster" in line
               for line in lines)
    assert any("turned off" in line for line in plain_lines)
    w_cached = cached.bundle.model.get_layer("head_output").get_weights()[0]
    w_plain = plain.bundle.model.get_layer("head_output").get_weights()[0]
    np.testing.assert_allclose(w_cached, w_plain, atol=1e-4)
    np.testing.assert_allclose(cached.history["val_loss"], plain.history["val_loss"],
                               atol=1e-4)
    # The evaluation reads the cached validation features through the trained suffix:
    # what the full model gives on those images, without tracing the full model.
    assert cached.eval_items == plain.eval_items and cached.eval_labels == plain.eval_labels
    assert cached.bundle.model.predict_function is None
    assert plain.bundle.model.predict_function is not None
    from desktop_ft.core.data.datasets import readable_inputs

    images, _, _ = readable_inputs("images", cached.eval_items, cached.eval_labels)
    np.testing.assert_allclose(cached.eval_probs, cached.bundle.predict_proba(images),
                               atol=1e-5)
    np.testing.assert_allclose(cached.eval_probs, plain.eval_probs, atol=1e-4)
    assert cached.evaluation == plain.evaluation


def test_augmentation_lives_in_the_model_and_bypasses_the_cache(image_folder):
    status = Status()
    job = TrainJob(model=ModelSpec(**VGG, augment=["flip", "rotation", "zoom", "contrast"]),
                   data=str(image_folder), strategy="head", epochs=1, batch_size=8)
    result = fine_tune(job, status)
    names = [l.name for l in result.bundle.model.layers]
    assert names[1:5] == ["augment_flip", "augment_rotation", "augment_zoom",
                          "augment_contrast"]
    assert result.bundle.tree.find("augmentation").kind == "augmentation"
    assert result.feature_cache[0]["cut"] is None
    assert "augment_flip is random in training" in result.feature_cache[0]["reason"]
    # Identity at inference: try-it and export answer as the same weights without
    # augmentation (the layers after it, in order: VGG16 is a chain); in training the
    # augmentation does change the images.
    model = result.bundle.model
    augment, rest = model.layers[1:5], model.layers[5:]
    # (16 images: each is flipped with probability 1/2, none of them once in 65,536.)
    x = np.random.default_rng(1).uniform(0, 255, size=(16, 32, 32, 3)).astype("float32")
    plain = x
    for layer in rest:
        plain = layer(plain, training=False)
    np.testing.assert_allclose(np.asarray(model(x, training=False)), np.asarray(plain),
                               rtol=1e-6, atol=1e-6)
    for layer in augment:
        np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x)
        assert not np.allclose(np.asarray(layer(x, training=True)), x), layer.name
    with pytest.raises(UserError, match="Unknown augmentation"):
        check_spec(ModelSpec(**VGG, augment=["blur"]))


def test_precision_choice():
    assert runtime.resolve_precision("auto", [])[0] == "float32"
    assert runtime.resolve_precision("auto", [(8, 0)])[0] == "mixed_bfloat16"
    assert runtime.resolve_precision("auto", [(7, 5)])[0] == "mixed_float16"
    assert runtime.resolve_precision("auto", [(6, 1)])[0] == "float32"
    assert runtime.resolve_precision("float32", [(9, 0)])[0] == "float32"
    with pytest.raises(UserError, match="150"):
        runtime.resolve_precision("mixed_float16", [])


def test_mixed_bfloat16_trains_with_a_float32_output(image_folder):
    import keras

    try:
        job = TrainJob(model=ModelSpec(**VGG, precision="mixed_bfloat16"),
                       data=str(image_folder), strategy="head", epochs=1, batch_size=8)
        result = fine_tune(job)
        assert result.bundle.model.get_layer("block1_conv1").compute_dtype == "bfloat16"
        assert result.bundle.model.get_layer("head_output").compute_dtype == "float32"
        assert result.bundle.predict_proba([np.zeros((40, 40, 3), np.uint8)]).dtype == \
            np.float32
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_jit_compile_option(image_folder, monkeypatch):
    """``--jit``: the model that trains (here the head over cached features) is compiled
    with XLA, as Keras keeps it (it turns ``jit_compile`` off for a model XLA cannot
    take), and it learns the colours: better than chance (1/3) on held-out images. (The
    narrow VGG16: XLA's compile of a whole VGG16 step took minutes on 2 cores.)"""
    import keras

    from tests.core.image_presets import narrow_vgg16

    monkeypatch.setattr(keras.applications, "VGG16", narrow_vgg16)
    compiled = []
    compile_ = keras.Model.compile

    def recording_compile(model, *args, **kwargs):
        compile_(model, *args, **kwargs)
        compiled.append((model.name, model.jit_compile))
    monkeypatch.setattr(keras.Model, "compile", recording_compile)
    job = TrainJob(model=ModelSpec(**VGG), data=str(image_folder), strategy="head",
                   epochs=12, batch_size=8, lr=3e-2, seed=1, jit_compile=True)
    result = fine_tune(job, record_run=False)
    assert compiled and all(jit is True for _, jit in compiled), compiled
    assert result.bundle.model.count_params() < 1e6
    loss = result.history["loss"]
    assert result.epochs_run == 12 and loss[-1] < 0.9 * loss[0], loss
    assert result.evaluation["accuracy"] > 1 / 3 + 0.2, result.evaluation


MIRRORED = """
import json, os, sys
from desktop_ft.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_mirrored_strategy_on_two_logical_cpus(image_folder, tmp_path):
    """The multi-device path, without GPUs: the CPU split into two logical devices."""
    env = {**os.environ, "DESKTOP_FT_CPU_DEVICES": "2", "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, "-c", MIRRORED, "train", "--model", "vgg16",
                           "--weights", "none", "--image-size", "32", "--data",
                           str(image_folder), "--strategy", "partial", "--epochs", "1",
                           "--batch-size", "8", "--export", str(tmp_path / "o"), "--json"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "2 × CPU (MirroredStrategy)" in proc.stdout + proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["epochs_run"] == 1 and summary["parity_max_abs_diff"] < 1e-5
    assert summary["feature_cache"][0]["cut"] is None   # not with several devices
