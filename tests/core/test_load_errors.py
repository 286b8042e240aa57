"""A model that cannot be loaded is explained as offline only when fetching failed (no
network, a server's refusal, a missing file); a fault in the code (a TypeError inside the
loader) is not disguised as one."""

import pytest

from desktop_ft.core.errors import UserError
from desktop_ft.core.models import ModelSpec, load_model


class Refused(Exception):
    """Stands for an error a download library raises (kagglehub's are not OSErrors)."""


Refused.__module__ = "kagglehub.exceptions"


def test_fetch_errors_are_told_from_faults():
    import urllib.error

    from desktop_ft.core.errors import is_fetch_error

    assert is_fetch_error(ConnectionError("no route"))
    assert is_fetch_error(FileNotFoundError("config.json"))
    assert is_fetch_error(urllib.error.URLError("offline"))
    assert is_fetch_error(Refused("403"))
    import http.client

    assert is_fetch_error(http.client.IncompleteRead(b"partial"))
    assert not is_fetch_error(TypeError("unexpected keyword"))
    assert not is_fetch_error(AttributeError("'NoneType' object has no attribute"))


def test_refused_files_are_told_from_faults():
    import safetensors

    from desktop_ft.core.errors import is_refused_file_error

    assert is_refused_file_error(safetensors.SafetensorError("header too small"))
    assert is_refused_file_error(ValueError("Unknown preset identifier"))
    assert not is_refused_file_error(TypeError("unexpected keyword"))


def raise_(error):
    def loader(*args, **kwargs):
        raise error
    return loader


def test_image_preset_fault_is_not_offline_advice(monkeypatch):
    import keras_hub

    spec = ModelSpec("resnet", preset="resnet_18_imagenet", num_classes=2)
    monkeypatch.setattr(keras_hub.models.ImageClassifier, "from_preset",
                        raise_(TypeError("from_preset() got an unexpected keyword")))
    with pytest.raises(TypeError, match="unexpected keyword"):
        load_model(spec)
    monkeypatch.setattr(keras_hub.models.ImageClassifier, "from_preset",
                        raise_(ConnectionError("no route to host")))
    with pytest.raises(UserError, match="Offline, use a local preset folder"):
        load_model(spec)


def test_imagenet_download_fault_is_not_offline_advice(monkeypatch, tmp_path):
    import urllib.error
    import urllib.request

    from desktop_ft.core.models.image.architectures import ARCHITECTURES
    from desktop_ft.core.models.image.weights import download_imagenet
    from desktop_ft.core.observer import Observer

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    arch = ARCHITECTURES["vgg16"]
    monkeypatch.setattr(urllib.request, "urlopen", raise_(TypeError("bad argument")))
    with pytest.raises(TypeError, match="bad argument"):
        download_imagenet(arch, False, Observer())
    monkeypatch.setattr(urllib.request, "urlopen",
                        raise_(urllib.error.URLError("no route to host")))
    with pytest.raises(UserError, match="probably offline"):
        download_imagenet(arch, False, Observer())
    assert not list(tmp_path.rglob("*.part"))


def test_text_preset_fault_is_not_offline_advice(monkeypatch):
    from desktop_ft.core.models.text import build

    spec = ModelSpec("bert", preset="bert_tiny_en_uncased", num_classes=2)

    class Backbone:
        presets = {"bert_tiny_en_uncased": {}}
        from_preset = None

    def with_loader(error):
        Backbone.from_preset = staticmethod(raise_(error))
        return lambda name: Backbone

    monkeypatch.setattr(build, "_keras_hub_class",
                        with_loader(AttributeError("'NoneType' object has no attribute")))
    with pytest.raises(AttributeError):
        load_model(spec)
    monkeypatch.setattr(build, "_keras_hub_class", with_loader(Refused("unreachable")))
    with pytest.raises(UserError, match="without network access"):
        load_model(spec)
