"""Learning-rate schedules: each kind's rate per step against its formula, and a short
training records the rate per epoch as the schedule gives it."""

import json
import math

import pytest

from desktop_ft.core.errors import UserError
from desktop_ft.core.models import ModelSpec
from desktop_ft.core.training import TrainJob, fine_tune
from desktop_ft.core.training.phase_schedule import PhaseSchedule
from desktop_ft.core.training.schedules import resolve_schedule

PEAK, T = 1e-2, 100


def near(x):
    return pytest.approx(x, rel=1e-5, abs=1e-8)   # float32 rates


def rates(kind, warmup):
    s = PhaseSchedule(PEAK, T, kind, warmup)
    return [float(s(i)) for i in range(T)]


def test_constant_and_warm_up_ramp():
    assert rates("constant", 0) == near([PEAK] * T)
    r = rates("constant", 0.1)
    assert r[:10] == near([PEAK * (i + 1) / 10 for i in range(10)])
    assert r[10:] == near([PEAK] * 90)


def test_cosine_and_linear_decay_to_zero_after_warm_up():
    cos, lin = rates("cosine", 0.2), rates("linear", 0.2)
    for i in range(20, T):
        p = (i - 20) / 80
        assert cos[i] == near(PEAK * 0.5 * (1 + math.cos(math.pi * p)))
        assert lin[i] == near(PEAK * (1 - p))
    assert cos[20] == near(PEAK) and lin[-1] == near(PEAK / 80)
    assert cos[-1] < PEAK * 1e-3
    assert rates("cosine", 0)[0] == near(PEAK)


def test_one_cycle_rises_from_a_25th_to_its_peak_then_anneals():
    r = rates("one-cycle", 0.25)
    assert r[0] == near(PEAK / 25 + (PEAK - PEAK / 25) * 0.5 *
                                 (1 - math.cos(math.pi / 25)))
    assert max(r) == near(PEAK) and r.index(max(r)) in (24, 25)
    low = PEAK / 25 / 1e4
    assert r[-1] == near(low + (PEAK - low) * 0.5 * (1 + math.cos(math.pi * 74 / 75)))
    assert PhaseSchedule.from_config(PhaseSchedule(PEAK, T, "one-cycle", 0.25)
                                     .get_config())(50).numpy() == near(r[50])


def test_defaults_follow_the_modality_and_bad_values_are_refused():
    # Constant, as measured (BENCHMARKS.md, "Schedules"; test_schedule_defaults.py).
    assert resolve_schedule(TrainJob()) == ("constant", 0.0)
    assert resolve_schedule(TrainJob(model=ModelSpec("bert", weights="none"))) == \
        ("constant", 0.0)
    assert resolve_schedule(TrainJob(schedule="linear")) == ("linear", 0.0)
    assert resolve_schedule(TrainJob(schedule="one-cycle")) == ("one-cycle", 0.25)
    assert resolve_schedule(TrainJob(schedule="constant", warmup=0.3)) == ("constant", 0.3)
    for bad in ({"schedule": "step"}, {"warmup": 1.0}, {"warmup": -0.1}):
        with pytest.raises(UserError):
            TrainJob(**bad)


def test_a_run_records_the_rate_of_each_epoch(image_folder, tmp_path):
    job = TrainJob(model=ModelSpec("vgg16", weights="none", image_size=32),
                   data=str(image_folder), strategy="head", epochs=3, batch_size=8,
                   lr=1e-2, schedule="linear", warmup=0.0, seed=1, val_split=0.25)
    from desktop_ft.core.observer import Observer

    class Rates(Observer):
        def __init__(self):
            self.seen = []

        def on_batch(self, epoch, batch, logs):
            self.seen.append(logs["lr"])

    observer = Rates()
    result = fine_tune(job, observer, record_run=False)
    steps = math.ceil(18 / 8)     # 24 images, a quarter held out
    assert result.history["lr"] == near(
        [1e-2 * (1 - e * steps / (3 * steps)) for e in range(3)])
    # Every step's rate reaches the observer (the window's rate plot) as a plain float.
    assert observer.seen == near([1e-2 * (1 - i / (3 * steps)) for i in range(3 * steps)])
    assert all(type(r) is float for r in observer.seen)


def test_two_phase_gives_each_phase_its_schedule_in_run_json_and_the_summary(
        image_folder, tmp_path, capsys):
    from desktop_ft.cli import main

    assert main(["train", "--model", "vgg16", "--weights", "none", "--image-size", "32",
                 "--data", str(image_folder), "--strategy", "two-phase", "--epochs", "4",
                 "--phase1-epochs", "2", "--batch-size", "8", "--lr", "1e-2", "--schedule",
                 "linear", "--warmup", "0", "--seed", "3", "--run-dir", str(tmp_path / "r"),
                 "--export", str(tmp_path / "out"), "--formats", "keras", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # Phase 2 starts again from its own peak, a tenth of phase 1's.
    expected = [1e-2, 5e-3, 1e-3, 5e-4]
    assert [e["lr"] for e in summary["epochs"]] == near(expected)
    [run] = (tmp_path / "r").glob("*/run.json")
    record = json.loads(run.read_text())
    assert record["history"]["lr"] == near(expected)
    assert record["job"]["schedule"] == "linear"


def test_compare_names_the_schedule_a_run_trained_with():
    from desktop_ft.core.training.compare import _schedule

    bert = TrainJob(model=ModelSpec("bert", weights="none"), schedule="linear",
                    warmup=0.1).to_dict()
    assert _schedule(bert, {}) == "linear, 10% warm-up"
    assert _schedule(TrainJob(schedule="cosine", warmup=0.2).to_dict(), {}) == \
        "cosine, 20% warm-up"
    assert _schedule({"model": {}}, {}) == "constant"      # recorded before schedules
