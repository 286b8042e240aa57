"""An image export's preprocessing record (export.json) is what a reloaded model feeds
its network with: a record that cannot be read is an error naming the file and field,
never silently replaced by the architecture's default (the model would predict wrongly)."""

import json

import pytest

from desktop_ft.core.errors import UserError
from desktop_ft.core.models import ModelSpec, load_model

GOOD = {"scale": [0.5, 0.5, 0.5], "offset": [-1.0, -1.0, -1.0], "bgr": False}


@pytest.fixture(scope="module")
def vgg():
    return load_model(ModelSpec("vgg16", weights="none", image_size=32, num_classes=2))


def attach(vgg, folder, record):
    if record is not None:
        (folder / "export.json").write_text(record if isinstance(record, str)
                                            else json.dumps(record))
    vgg.parts.pop("preprocessing", None)
    vgg.modality.attach_saved_assets(vgg, folder)
    return vgg.parts["preprocessing"]


def test_a_readable_record_is_used(vgg, tmp_path):
    assert attach(vgg, tmp_path, {"preprocessing": GOOD}) == ((0.5,) * 3, (-1.0,) * 3, False)


def test_no_record_means_the_architectures_own(vgg, tmp_path):
    default = vgg.modality.arch.preprocessing
    assert attach(vgg, tmp_path, None) == default                  # no export.json
    assert attach(vgg, tmp_path, {"model": "vgg16"}) == default    # from before the field


@pytest.mark.parametrize("record,field", [
    ("{not json", "export.json"),
    ({"preprocessing": "caffe"}, "preprocessing"),
    ({"preprocessing": {**GOOD, "scale": "1/127.5"}}, "preprocessing.scale"),
    ({"preprocessing": {**GOOD, "offset": [1.0, 2.0]}}, "preprocessing.offset"),
    ({"preprocessing": {k: v for k, v in GOOD.items() if k != "bgr"}}, "preprocessing.bgr"),
    ({"preprocessing": {**GOOD, "bgr": "no"}}, "preprocessing.bgr"),
])
def test_an_unreadable_record_is_an_error(vgg, tmp_path, record, field):
    with pytest.raises(UserError) as e:
        attach(vgg, tmp_path, record)
    assert str(tmp_path / "export.json") in str(e.value) and field in str(e.value)
