"""Loading models: weight sources, offline failure messages, BERT folder checks."""

import hashlib
import json
import urllib.error

import numpy as np
import pytest

from desktop_ft.core.errors import UserError
from desktop_ft.core.models import ModelSpec, check_spec, load_model
from desktop_ft.core.models.image import weights as weights_mod
from desktop_ft.core.models.image.architectures import ARCHITECTURES
from desktop_ft.core.observer import Observer


def test_weights_file_round_trip(tmp_path):
    import keras

    source = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    path = tmp_path / "notop.weights.h5"
    source.save_weights(str(path))
    bundle = load_model(ModelSpec("vgg16", weights=str(path), image_size=48, num_classes=3))
    assert "13 layers loaded" in bundle.weights_source
    for layer in (l for l in source.layers if l.weights):
        for a, b in zip(layer.get_weights(), bundle.model.get_layer(layer.name).get_weights()):
            np.testing.assert_array_equal(a, b)


@pytest.mark.large
def test_real_pretrained_vgg16_backbone_from_hed(hed_weights):
    """HED's file uses other layer names (block1/layers/conv2d/...): matched by shape."""
    import h5py

    bundle = load_model(ModelSpec("vgg16", weights=str(hed_weights), image_size=64))
    assert "13 layers loaded" in bundle.weights_source
    with h5py.File(hed_weights) as f:
        expected = f["block5/layers/conv2d_2/vars/0"][()]
    np.testing.assert_array_equal(bundle.model.get_layer("block5_conv3").get_weights()[0],
                                  expected)


def test_weights_file_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_model(ModelSpec("vgg16", weights=str(tmp_path / "nope.h5"), image_size=32))
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5")
    with pytest.raises(UserError, match="not a Keras weights file or saved model"):
        load_model(ModelSpec("vgg16", weights=str(junk), image_size=32))
    import h5py

    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["dense/kernel"] = np.zeros((7, 5), np.float32)
    with pytest.raises(UserError, match="does not hold VGG16 weights: expected 13 layers") as e:
        load_model(ModelSpec("vgg16", weights=str(other), image_size=32))
    assert "found 1 weight arrays, 0 of 13 layers fit" in str(e.value)


def test_imagenet_offline_gives_advice(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))

    def offline(*a, **k):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(weights_mod.urllib.request, "urlopen", offline)
    with pytest.raises(UserError) as e:
        load_model(ModelSpec("vgg16", weights="imagenet", image_size=32))
    msg = str(e.value)
    assert "offline" in msg and "--weights none" in msg and "--weights FILE" in msg
    assert str(tmp_path / "models") in msg
    # The window names its own controls, and the cause is kept for "Details".
    assert "Weights → From file…" in e.value.window_message
    assert "--weights" not in e.value.window_message
    assert "Name or service not known" in e.value.details
    assert isinstance(e.value.__cause__, urllib.error.URLError)
    assert not list((tmp_path / "models").glob("*.part"))   # no partial download left


def test_imagenet_download_progress_checksum_and_cancel(monkeypatch, tmp_path):
    """The download path, served from a local file: progress, checksum, cache, cancel."""
    import dataclasses

    import keras

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "home"))
    src = tmp_path / "srv"
    src.mkdir()
    vgg = ARCHITECTURES["vgg16"]
    name = vgg.imagenet[0]
    model = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    weights = src / "w.weights.h5"
    model.save_weights(str(weights))
    (src / name).write_bytes(weights.read_bytes())
    md5 = hashlib.md5((src / name).read_bytes()).hexdigest()
    url = (src / name).as_uri()
    wrong = dataclasses.replace(vgg, imagenet=(name, url, "0" * 32))
    with pytest.raises(UserError, match="checksum mismatch"):
        weights_mod.download_imagenet(wrong, False, Observer())

    class Recorder(Observer):
        def __init__(self):
            self.progress = []

        def on_progress(self, done, total, what):
            self.progress.append((done, total))

    import threading

    stop = threading.Event()
    stop.set()
    arch = dataclasses.replace(vgg, imagenet=(name, url, md5))
    with pytest.raises(weights_mod.DownloadCancelled):
        weights_mod.download_imagenet(arch, False, Observer(), stop)
    assert not (tmp_path / "home" / "models" / name).exists()
    rec = Recorder()
    path = weights_mod.download_imagenet(arch, False, rec)
    assert path.exists() and rec.progress[-1][0] == path.stat().st_size
    assert weights_mod.download_imagenet(arch, False, Recorder()) == path   # cached now


def test_spec_validation():
    with pytest.raises(UserError, match="needs --image-size 224") as e:
        check_spec(ModelSpec("vgg16", head="original", image_size=64))
    assert "224 px" in e.value.window_message and "--" not in e.value.window_message
    with pytest.raises(UserError, match="at least 32"):
        check_spec(ModelSpec("vgg16", image_size=16))
    with pytest.raises(UserError, match="needs --preset"):
        check_spec(ModelSpec("bert"))
    with pytest.raises(UserError, match="Unknown model"):
        check_spec(ModelSpec("alexnet"))
    with pytest.raises(UserError, match="Unknown augmentation"):
        load_model(ModelSpec("vgg16", image_size=32, augment=["blur"]))


def hf_folder(path, model_type: str, weights_file: str, content: bytes):
    """A Hugging Face-style folder: config.json naming ``model_type`` + one weights file."""
    path.mkdir()
    (path / "config.json").write_text(json.dumps({"model_type": model_type}))
    (path / weights_file).write_bytes(content)
    return path


def test_bert_folder_checks(tmp_path):
    pickled = hf_folder(tmp_path / "pickled", "bert", "pytorch_model.bin", b"\x80\x04")
    with pytest.raises(UserError, match="pickled PyTorch checkpoint"):
        load_model(ModelSpec("bert", preset=str(pickled)))
    gpt = hf_folder(tmp_path / "gpt", "gpt2", "model.safetensors", b"")
    with pytest.raises(UserError, match="holds a 'gpt2' model, not BERT. Supported: bert, "):
        load_model(ModelSpec("bert", preset=str(gpt)))
    (gpt / "config.json").write_text(json.dumps({"model_type": "xlm-roberta"}))
    with pytest.raises(UserError, match=r"Choose XLM-RoBERTa \(--model xlm_roberta\)"):
        load_model(ModelSpec("bert", preset=str(gpt)))
    with pytest.raises(UserError, match="Unknown BERT preset"):
        load_model(ModelSpec("bert", preset="bert_gigantic_xx"))
    with pytest.raises(UserError, match="not a folder"):
        load_model(ModelSpec("bert", preset=str(tmp_path / "missing")))


def test_tiny_bert_preset_and_sequence_length_clip(tiny_bert_preset):
    messages = []

    class Rec(Observer):
        def on_status(self, m):
            messages.append(m)

    bundle = load_model(ModelSpec("bert", preset=str(tiny_bert_preset), seq_len=500,
                                  num_classes=3), Rec())
    assert bundle.spec.seq_len == 64
    assert any("exceeds this model's maximum" in m for m in messages)
    assert bundle.predict_proba(["good", "bad"]).shape == (2, 3)


@pytest.mark.large
def test_real_minilm_loads_offline(minilm_folder):
    bundle = load_model(ModelSpec("bert", preset=str(minilm_folder), seq_len=32, num_classes=3))
    assert "Hugging Face folder" in bundle.weights_source
    assert len(bundle.tree.units) == 6
    bundle.tree.apply_strategy("head")
    bundle.tree.apply_to_model()
    assert bundle.tree.totals() == (1155, 22_713_216)


def test_family_for_folder_reads_only_config_json(tmp_path):
    from desktop_ft.core.models import ARCHITECTURES, architecture_for_folder

    def folder(name, config):
        path = tmp_path / name
        path.mkdir()
        if config is not None:
            (path / "config.json").write_text(config if isinstance(config, str)
                                              else json.dumps(config))
        return path

    assert architecture_for_folder(folder("hf_roberta", {"model_type": "roberta"})) == "roberta"
    assert architecture_for_folder(folder("hf_xlmr", {"model_type": "xlm-roberta"})) \
        == "xlm_roberta"
    for name, modality in ARCHITECTURES.items():   # every keras-hub architecture's preset folder
        arch = modality.arch
        if modality.input_kind == "text" or arch.source == "keras_hub":
            backbone = arch.backbone if modality.input_kind == "text" else arch.builder
            preset = folder(f"kh_{name}", {"class_name": backbone, "config": {}})
            assert architecture_for_folder(preset) == name
    assert architecture_for_folder(folder("hf_vit", {"model_type": "vit"})) == "vit"
    assert architecture_for_folder(folder("gpt2", {"model_type": "gpt2"})) is None
    assert architecture_for_folder(folder("empty", None)) is None
    assert architecture_for_folder(folder("broken", "{not json")) is None
    assert architecture_for_folder(folder("list", "[1, 2]")) is None
    assert architecture_for_folder(tmp_path / "missing") is None
