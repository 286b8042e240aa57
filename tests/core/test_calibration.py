"""Temperature scaling: the fit recovers a known temperature, ECE matches a hand
computation, and the record says why a split could not calibrate."""

import numpy as np
import pytest

from desktop_ft.core.models.decision import Decision
from desktop_ft.core.training.calibration import (calibrate, expected_calibration_error,
                                                  fit_temperature, reliability_bins)


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("temperature", [0.4, 1.0, 3.0])
def test_fit_temperature_recovers_a_known_temperature(temperature):
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(4000, 4)) * 2.5
    labels = [int(rng.choice(4, p=p)) for p in softmax(logits)]   # calibrated at T = 1
    # The model reports softmax(logits / t): the fit must undo it with T = t⁻¹… i.e.
    # softmax(log p / T) == softmax(logits) at T = 1 / t.
    reported = softmax(logits / temperature)
    fitted = fit_temperature(labels, reported)
    assert fitted == pytest.approx(1 / temperature, rel=0.06)
    calibrated = Decision(temperature=fitted).calibrated(reported)
    assert expected_calibration_error(labels, calibrated) < 0.03


def test_fit_temperature_is_robust():
    assert fit_temperature([], np.zeros((0, 3))) == 1.0
    # Probabilities of exactly 0 and 1 (a float32 softmax holds them), and uniform rows.
    probs = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.5, 0.5]], np.float32)
    t = fit_temperature([0, 0, 0, 1], probs)
    assert np.isfinite(t) and 0.05 <= t <= 20
    assert fit_temperature([0, 1], np.full((2, 2), 0.5)) == 1.0


def test_ece_against_a_hand_computation():
    probs = np.array([[0.95, 0.05],     # bin (14/15, 1]: right
                      [0.97, 0.03],     # same bin: wrong
                      [0.62, 0.38],     # bin (9/15, 10/15]: right
                      [0.30, 0.70],     # bin (10/15, 11/15]: right
                      [0.55, 0.45]])    # bin (8/15, 9/15]: wrong
    labels = [0, 1, 0, 1, 1]
    hand = (2 / 5 * abs(0.5 - 0.96) + 1 / 5 * abs(1 - 0.62) + 1 / 5 * abs(1 - 0.70)
            + 1 / 5 * abs(0 - 0.55))
    assert expected_calibration_error(labels, probs) == pytest.approx(hand, abs=1e-6)
    bins = reliability_bins(labels, probs)
    assert [b["count"] for b in bins] == [1, 1, 1, 2]
    assert bins[-1]["confidence"] == pytest.approx(0.96) and bins[-1]["accuracy"] == 0.5
    # Two bins: everything in (0.5, 1].
    assert expected_calibration_error(labels, probs, bins=2) == pytest.approx(
        abs(3 / 5 - (0.95 + 0.97 + 0.62 + 0.70 + 0.55) / 5), abs=1e-6)
    assert expected_calibration_error([], np.zeros((0, 2))) == 0.0


def test_calibrate_records_the_fit_or_why_not():
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(300, 3)) * 2
    labels = [int(rng.choice(3, p=p)) for p in softmax(logits)]
    overconfident = softmax(logits * 3)
    d = calibrate(Decision(unknown_below=0.5), labels, overconfident)
    c = d.calibration
    assert d.temperature > 2 and d.unknown_below == 0.5
    assert c["fit_on"] == "validation" and c["examples"] == 300
    assert c["ece_after"] < c["ece_before"] / 2 and c["nll_after"] < c["nll_before"]
    assert sum(b["count"] for b in c["reliability"]["after"]) == 300
    few = calibrate(Decision(), labels[:5], overconfident[:5])
    assert few.temperature == 1.0 and "5 validation examples" in few.calibration["why"]
    right = np.eye(3)[np.array(labels[:20])] * 0.8 + 0.2 / 3
    perfect = calibrate(Decision(temperature=2.0), labels[:20], right)
    assert perfect.temperature == 1.0 and "rightly" in perfect.calibration["why"]


def write_noisy_colours(root, per_class=60, noise=0.25, seed=1):
    """Three colours, a quarter of each labelled as another at random: a network that
    trains long enough memorises the wrong labels and is overconfident on new images."""
    from PIL import Image

    from tests.conftest import COLOURS, make_image

    rng = np.random.default_rng(seed)
    classes = list(COLOURS)
    for c in classes:
        (root / c).mkdir(parents=True, exist_ok=True)
    for c in classes:
        for i in range(per_class):
            given = c if rng.random() >= noise else \
                classes[(classes.index(c) + 1 + int(rng.integers(2))) % 3]
            Image.fromarray(make_image(rng, COLOURS[c], h=32, w=32)).save(
                root / given / f"{c}_{i}.png")
    return root


@pytest.mark.usefixtures("narrow_vgg16")
def test_training_calibrates_an_overconfident_model(tmp_path):
    """Fitted on the validation split after training: T > 1 lowers the validation ECE by
    a clear margin; the evaluation, run.json and an export from the run carry it."""
    import json

    from desktop_ft.core.export.reexport import source_for_reexport
    from desktop_ft.core.models import ModelSpec
    from desktop_ft.core.training import TrainJob, fine_tune

    data = write_noisy_colours(tmp_path / "noisy")
    job = TrainJob(model=ModelSpec("vgg16", weights="none", image_size=32), data=str(data),
                   epochs=40, batch_size=16, strategy="full", lr=1e-3, val_split=0.3, seed=1)
    r = fine_tune(job, run_dir=tmp_path / "runs")
    d = r.bundle.decision
    c = d.calibration
    print("calibration", d.temperature, c["ece_before"], c["ece_after"])
    assert c["fit_on"] == "validation" and c["examples"] == len(r.eval_labels) >= 50
    assert d.temperature > 2
    assert c["ece_before"] > 0.2 and c["ece_after"] < c["ece_before"] - 0.15
    # The evaluation (on validation here) reports calibrated probabilities.
    probs = np.asarray(r.eval_probs)
    assert expected_calibration_error(r.eval_labels, probs) == pytest.approx(c["ece_after"],
                                                                            abs=1e-4)
    record = json.loads((tmp_path / "runs").glob("*/run.json").__next__().read_text())
    assert record["decision"]["temperature"] == d.temperature
    assert source_for_reexport(r.run_path).bundle.decision.temperature == d.temperature
    # The report draws the reliability diagram, before and after.
    from desktop_ft.core.report import write_report

    page = write_report(tmp_path / "report.html", evaluation=r.evaluation, mistakes=[],
                        kind="images", meta=r.summary()).read_text()
    assert "<h2>Calibration</h2>" in page and f"Temperature {d.temperature:.3g}" in page
    assert page.count('<circle class="before"') == len(c["reliability"]["before"]) > 1
    assert page.count('<circle class="after"') == len(c["reliability"]["after"]) > 1


@pytest.mark.usefixtures("narrow_vgg16")
def test_no_validation_split_keeps_t_at_1_and_says_why(image_folder):
    from desktop_ft.core.models import ModelSpec
    from desktop_ft.core.training import TrainJob, fine_tune

    job = TrainJob(model=ModelSpec("vgg16", weights="none", image_size=32),
                   data=str(image_folder), epochs=1, batch_size=8, val_split=0.0)
    r = fine_tune(job, record_run=False)
    assert r.bundle.decision.temperature == 1.0
    assert "no validation split" in r.bundle.decision.calibration["why"]
