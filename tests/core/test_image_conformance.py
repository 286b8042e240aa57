"""Every image architecture of the table through the whole app, on keras-hub's
``run_task_test`` pattern: built as a user builds it (``keras.applications`` entries with
random weights at their smallest size, at a tiny width and depth where Keras's
constructor allows one; keras-hub entries from a tiny preset folder; both in
:mod:`image_presets`), then its layer tree and every strategy, BatchNormalization kept
frozen, one epoch of training on cached features, the cache's identity (the frozen
prefix computes the same in training, so cached training equals uncached), Grad-CAM or
the patch map, and export parity.

Adding an architecture to the table adds it here.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from tests.core.strategy_checks import apply_and_check, check_bitfit_moves_biases
from tests.core.image_presets import make_preset, tiny_application, tiny_size
from tests.conftest import COLOURS, make_image

from desktop_ft.core.explain import explain, load_export_bundle
from desktop_ft.core.export import export_model
from desktop_ft.core.export.writers import write_formats
from desktop_ft.core.models import ModelSpec, with_num_classes
from desktop_ft.core.models.image.architectures import ARCHITECTURES
from desktop_ft.core.training import TrainJob, fine_tune
from desktop_ft.core.training.feature_cache import split_model
from desktop_ft.core.training.strategy import prepare_strategy

pytestmark = pytest.mark.slow

NAMES = list(ARCHITECTURES)
# Exports are the slow part (a SavedModel of a 20-28 M parameter backbone takes 20-60 s on
# two cores): by default a small CNN with residual blocks, squeeze-and-excitation and its
# preprocessing inside (every format), and the transformer (VGG16's exports are tested
# throughout tests/core/test_export.py); every entry with DESKTOP_FT_FULL_CONFORMANCE=1
# (docs/ARCHITECTURE.md, "Adding an architecture"). Measured on 2026-11-29: SavedModel and
# .keras parity for every keras.applications entry and ViT; ONNX + LiteRT for
# mobilenet_v2 and mobilenet_v3_small; LiteRT for efficientnet_v2_b0, vit and deit.
# Measured on 2026-11-29 for the keras-hub CNNs and Swin (tiny presets, 2 cores):
# SavedModel, .keras and LiteRT parity for swin (40 s), resnet (15 s), efficientnet
# (27 s), mobilenet (32 s) and densenet (21 s); ONNX too for resnet, efficientnet and
# densenet.
EXPORTED = {"mobilenet_v3_small", "vit"}
FULL = os.environ.get("DESKTOP_FT_FULL_CONFORMANCE") == "1"
# Backbones whose every bias is a BatchNormalization beta (kept frozen): BitFit is refused.
NO_BITFIT = {"mobilenet_v2", "densenet121", "xception", "resnet", "densenet"}
# Networks tf2onnx could not convert as Keras traces them (core/export/tf_onnx.py): their
# graph captures plain tensors (EfficientNetV2's in-model normalization, the position ids
# of ViT, DeiT and Swin's attention mask), which tf2onnx declared as ONNX inputs with no
# value, or runs grouped convolutions through XLA (keras-hub MobileNet): ONNX alone for
# those not exported in full by default.
ONNX_ONLY = {"efficientnet_v2_b0", "deit", "swin", "mobilenet"}


@pytest.fixture(scope="module", params=NAMES)
def spec(request, tmp_path_factory):
    name = request.param
    arch = ARCHITECTURES[name]
    if arch.source == "keras_hub":
        folder = make_preset(arch, tmp_path_factory.mktemp(name) / "preset")
        yield ModelSpec(name, preset=str(folder), num_classes=3, image_size=tiny_size(arch))
        return
    tiny = None if FULL else tiny_application(arch)
    with pytest.MonkeyPatch.context() as patch:
        if tiny is not None:      # the app's build calls keras.applications.<builder>
            import keras

            patch.setattr(keras.applications, arch.builder, tiny)
        yield ModelSpec(name, weights="none", image_size=arch.min_size, num_classes=3)


@pytest.fixture(scope="module")
def trained(spec, image_folder):
    job = TrainJob(model=spec, data=str(image_folder), epochs=1, batch_size=8,
                   strategy="head", lr=1e-3)
    return fine_tune(job, record_run=False)


def _counts(vars_) -> int:
    return sum(int(np.prod(v.shape)) for v in vars_)


def test_trains_on_cached_features_equal_to_uncached(trained):
    r = trained
    assert r.epochs_run == 1 and np.isfinite(r.history["loss"]).all()
    [log] = r.feature_cache
    assert log["cut"] == "head_pool", log
    # Why cached training equals uncached: the frozen prefix computes the same in training
    # as in inference (frozen BN in inference mode, frozen dropout off), and the full model
    # is the suffix over the prefix.
    bundle = r.bundle
    size = bundle.spec.image_size
    x = np.random.default_rng(0).normal(0, 1, (2, size, size, 3)).astype("float32")
    prefix, suffix = split_model(bundle, "head_pool")
    np.testing.assert_allclose(np.asarray(prefix(x, training=True)),
                               np.asarray(prefix(x, training=False)), atol=1e-5)
    np.testing.assert_allclose(np.asarray(suffix(prefix(x))), np.asarray(bundle.model(x)),
                               atol=1e-5)


def test_explain_maps_the_image(trained):
    # Images like the training data, at an odd size, and noise. (A barely trained random
    # network can, rightly, find no positive evidence anywhere in one image: an all-zero
    # map. Measured 2026-12-07: ConvNeXt, Xception and ViT on the red square, MobileNetV2
    # on the noise; never on all four.)
    rng = np.random.default_rng(1)
    images = [make_image(rng, COLOURS[c], h=45, w=61) for c in ("red", "green", "blue")]
    images.append(rng.integers(0, 256, (45, 61, 3), dtype=np.uint8))
    explained = explain(trained.bundle, images)
    for e in explained:
        heatmap = e["heatmap"]
        assert heatmap.shape == (45, 61) and np.isfinite(heatmap).all()
        assert heatmap.min() >= 0 and (heatmap.max() == 0.0 or
                                       abs(heatmap.max() - 1.0) < 1e-6), heatmap.max()
        assert abs(sum(e["probs"]) - 1) < 1e-4 and e["layer"]
    # Maps, not blanks: normalised to a peak of 1, and not the same everywhere.
    peaks = [(float(e["heatmap"].min()), float(e["heatmap"].max())) for e in explained]
    assert sum(lo < 0.99 and abs(hi - 1.0) < 1e-6 for lo, hi in peaks) >= 2, peaks


def test_export_parity_and_reload(trained, tmp_path):
    r = trained
    name = r.bundle.architecture
    rng = np.random.default_rng(2)
    if not (FULL or name in EXPORTED):
        # Every other entry: the SavedModel alone and the parity figure export.json
        # records (one sample + the modality's two synthetic ones, at odd sizes).
        # Measured 2026-12-07 on 2 busy cores: 1-12 s an entry, ~90 s for all 18.
        sample = rng.integers(0, 256, (40, 52, 3), dtype=np.uint8)
        record = export_model(r.bundle, tmp_path / "out", r.classes, samples=[sample],
                              formats="saved_model")
        assert record["formats_written"] == ["saved_model"], record["formats_written"]
        assert record["parity_samples"] == 3, record
        assert record["parity_max_abs_diff"] < 1e-4, record
        return
    formats = "saved_model,keras,onnx,litert"
    samples = [rng.integers(0, 256, (40, 52, 3), dtype=np.uint8) for _ in range(3)]
    record = export_model(r.bundle, tmp_path / "out", r.classes, samples=samples,
                          formats=formats)
    assert record["parity_max_abs_diff"] < 1e-4, record
    for fmt in [f for f in ("onnx", "litert") if f in formats]:
        assert record["formats"][fmt]["parity_max_abs_diff"] < 1e-4, record["formats"]
    reloaded = load_export_bundle(tmp_path / "out")
    np.testing.assert_allclose(reloaded.predict_proba(samples),
                               r.bundle.predict_proba(samples), atol=1e-5)
    # An export explains as the app does (desktop-ft explain OUT …).
    [again], [app] = explain(reloaded, samples[:1]), explain(r.bundle, samples[:1])
    assert again["layer"] == app["layer"]
    np.testing.assert_allclose(again["heatmap"], app["heatmap"], atol=1e-4)


def test_onnx_parity(trained, tmp_path):
    """ONNX (tf2onnx on TensorFlow) runs in onnxruntime and matches the app."""
    bundle = trained.bundle
    if bundle.architecture not in ONNX_ONLY or FULL:
        pytest.skip("ONNX is checked with the other formats (test_export_parity_and_reload)")
    rng = np.random.default_rng(3)
    checks = [rng.integers(0, 256, (40, 52, 3), dtype=np.uint8) for _ in range(3)]
    record = write_formats(bundle, tmp_path, ("onnx",), checks)
    assert record["onnx"]["parity_max_abs_diff"] < 1e-4, record
    assert record["onnx"]["exporter"].startswith("tf2onnx "), record
    print(bundle.architecture, "ONNX parity", record["onnx"]["parity_max_abs_diff"])


def test_multi_label_head(trained):
    """The same backbone under one sigmoid per label (issue 32): probabilities per
    label, each in (0, 1), not a distribution over them."""
    bundle = with_num_classes(trained.bundle, 4, list("abcd"), multi_label=True)
    assert bundle.model.output_shape == (None, 4) and not bundle.binary
    assert bundle.model.layers[-1].activation.__name__ == "sigmoid"
    rng = np.random.default_rng(5)
    probs = bundle.predict_proba([rng.integers(0, 256, (40, 52, 3), dtype=np.uint8)
                                  for _ in range(2)])
    assert probs.shape == (2, 4) and ((probs > 0) & (probs < 1)).all()
    assert trained.bundle.model.output_shape == (None, 3)     # the trained one untouched


def test_tree_and_strategies(trained):
    """Last of the module's tests on each entry's trained bundle (it changes the model:
    LoRA, int8), so every entry is built once."""
    bundle = trained.bundle
    arch = ARCHITECTURES[bundle.architecture]
    bundle.tree.apply_strategy("head")
    tree = bundle.tree
    trainable, frozen = tree.totals()
    assert trainable + frozen == bundle.model.count_params()
    assert len(tree.units) >= 2
    # Groups are named as the architecture names its layers (its blocks rules).
    base = bundle.parts["base"]
    names = {leaf.layer.name for leaf in tree.leaves()} | {
        sub.name for layer in base.layers for sub in [layer, *getattr(layer, "_layers", [])]}
    for unit in tree.units:
        assert any(arch.group_of(n) and arch.group_of(n).split("/")[0] == unit.name
                   for n in names), unit.name
    # BitFit where the backbone has biases outside BatchNormalization (kept frozen);
    # refused where it would train the head alone.
    offers_bitfit = bundle.tree.has_backbone_bias
    strategies = ["head", "partial", "full"] + (["bitfit"] if offers_bitfit else [])
    strategies += ["lora", "qlora"] if arch.offers_lora else []
    seen = {}
    for strategy in strategies:
        bundle, seen[strategy], _ = apply_and_check(bundle, strategy)
        tree = bundle.tree
        if strategy == "bitfit":        # and those biases move in training
            size = bundle.spec.image_size
            x = np.random.default_rng(4).normal(0, 1, (4, size, size, 3)).astype("float32")
            check_bitfit_moves_biases(bundle, x, np.eye(3, dtype="float32")[[0, 1, 2, 0]])
        if strategy in ("partial", "full"):   # BatchNormalization stays frozen by default
            bn = [leaf for leaf in tree.leaves() if leaf.kind == "BatchNormalization"]
            assert bool(bn) == arch.has_bn
            assert not any(any(leaf.var_trainable) for leaf in bn)
            assert all(not leaf.layer.trainable for leaf in bn)
    assert seen["head"] < seen["partial"] <= seen["full"]
    # Everything trains but BatchNormalization (frozen by default).
    bn_params = sum(leaf.params for leaf in bundle.tree.leaves()
                    if leaf.kind == "BatchNormalization")
    assert seen["full"] == trainable + frozen - bn_params
    if not arch.offers_lora:
        with pytest.raises(Exception, match="has only convolutions"):
            prepare_strategy(bundle, "lora")
    if not offers_bitfit:
        with pytest.raises(Exception, match="only the head would train"):
            prepare_strategy(bundle, "bitfit")
    # Which entries those are (convolutions without bias, each before a frozen
    # BatchNormalization): a table entry that gains or loses biases says so here.
    assert offers_bitfit == (arch.name not in NO_BITFIT), arch.name
