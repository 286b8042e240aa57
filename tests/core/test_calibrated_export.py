"""Exports answer as the app does when the model carries a temperature: every format
written here returns the app's calibrated probabilities (not the raw model's), parity
stays tiny, export.json records the decision, and model.keras — the raw model — is run
with the export's temperature on top."""

import json

import numpy as np
import pytest

from desktop_ft.core.export import ExportedModel, export_model
from desktop_ft.core.export.exported import _fallback_runner
from desktop_ft.core.models import ModelSpec, load_model
from desktop_ft.core.models.decision import Decision
from desktop_ft.core.models.shared import to_class_probs

pytestmark = pytest.mark.usefixtures("narrow_vgg16")

T = 2.5


@pytest.fixture(scope="module")
def sharp_bundle():
    """An untrained narrow VGG16 whose head is scaled up so its probabilities are far
    from uniform (a temperature then moves them by much more than parity's tolerance)."""
    import keras

    keras.utils.set_random_seed(3)
    bundle = load_model(ModelSpec("vgg16", weights="none", image_size=32, num_classes=3))
    bundle.classes = ["a", "b", "c"]
    head = bundle.model.layers[-1]
    kernel, bias = head.get_weights()
    head.set_weights([kernel * 40, bias])
    bundle.decision = Decision(temperature=T, unknown_below=0.6,
                               calibration={"ece_before": 0.2, "ece_after": 0.05,
                                            "examples": 30, "fit_on": "validation"})
    return bundle


def test_every_format_returns_the_apps_calibrated_probabilities(sharp_bundle, tmp_path):
    bundle = sharp_bundle
    rng = np.random.default_rng(7)
    images = [rng.integers(0, 256, (32 + 7 * i, 40, 3), dtype=np.uint8) for i in range(6)]
    app = bundle.predict_proba(images)
    x = bundle.modality.model_inputs(bundle, images)
    raw = to_class_probs(bundle.model.predict_on_batch(x), bundle.binary)
    np.testing.assert_allclose(app, Decision(temperature=T).calibrated(raw), atol=1e-6)
    assert np.abs(app - raw).max() > 0.05      # the temperature matters here

    out = tmp_path / "out"
    record = export_model(bundle, out, bundle.classes, samples=images,
                          formats="saved_model,keras,onnx,litert",
                          representative=images)
    assert record["parity_max_abs_diff"] < 1e-5
    for key in ("onnx", "litert"):
        assert record["formats"][key]["parity_max_abs_diff"] < 1e-5, key
    meta = json.loads((out / "export.json").read_text())
    assert meta["decision"]["temperature"] == T and meta["decision"]["unknown_below"] == 0.6
    assert meta["calibration"] == {"temperature": T, "ece_before": 0.2, "ece_after": 0.05,
                                   "examples": 30, "fit_on": "validation"}
    assert json.loads((out / "labels.json").read_text()) == ["a", "b", "c"]
    card = (out / "README.md").read_text()
    assert "* **Calibration:** temperature 2.5, fitted on 30 validation examples " \
        "(expected calibration error 0.200 → 0.050)" in card
    assert "below 60%" in card
    # The SavedModel, and model.keras run with the export's temperature on top.
    np.testing.assert_allclose(ExportedModel(out).predict_proba(images), app, atol=1e-5)
    runs, predict = _fallback_runner(out, "images", "test")
    assert runs == "model.keras"
    np.testing.assert_allclose(predict(images, 4), app, atol=1e-5)
    # The raw-input ONNX and LiteRT models hold the same graph: checked by their
    # runtimes above; here the Keras wrapper they are converted from.
    wrapper = bundle.modality.raw_input_model(bundle)
    feeds = bundle.modality.format_inputs(bundle, images)
    np.testing.assert_allclose(np.asarray(wrapper.predict_on_batch(feeds["images"])),
                               bundle.predict_proba(list(feeds["images"])), atol=1e-5)
