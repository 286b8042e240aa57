"""Checkpoints hold what training changes: a head-only VGG16 run folder stays small, the
rest is rebuilt from the run's source and checked against its fingerprint, and run
folders with a full ``weights.weights.h5`` are still read."""

import json
import os

import numpy as np
import pytest

from desktop_ft.core.errors import UserError
from desktop_ft.core.models import ModelSpec
from desktop_ft.core.training import TrainJob, fine_tune
from desktop_ft.core.training.checkpoint import VARIABLES
from desktop_ft.core.training.resume import bundle_from_run
from desktop_ft.core.training.runs import Run, disk_usage

X = [np.full((40, 40, 3), 90, np.uint8), np.full((32, 32, 3), 200, np.uint8)]


def head_only(folder, runs, weights="none"):
    job = TrainJob(model=ModelSpec("vgg16", weights=weights, image_size=32), data=str(folder),
                   strategy="head", epochs=2, batch_size=8, seed=3)
    result = fine_tune(job, run_dir=runs)
    return result, Run.open(result.run_path)


def test_a_head_only_run_folder_holds_the_head_and_rebuilds_the_rest(image_folder,
                                                                      tmp_path):
    result, run = head_only(image_folder, tmp_path / "runs")
    full_bytes = sum(int(np.prod(v.shape)) * 4 for v in result.bundle.model.weights)
    assert full_bytes > 50e6                       # VGG16: 14.7 M parameters
    ckpts = disk_usage(run.path / "checkpoints")
    assert disk_usage(run.path) < 2e6 and ckpts < full_bytes / 500, ckpts
    with np.load(run.path / "checkpoints" / "last" / VARIABLES) as saved:
        assert sorted(saved.files) == ["head_output/bias", "head_output/kernel"]
    expected = result.bundle.predict_proba(X)
    again = bundle_from_run(run, "last")           # built from the source, then the head
    np.testing.assert_array_equal(again.predict_proba(X), expected)

    # A run folder from before: a full weights.weights.h5 and no fingerprint.
    last = run.path / "checkpoints" / "last"
    result.bundle.model.save_weights(str(last / "weights.weights.h5"))
    os.remove(last / VARIABLES)
    os.remove(run.path / "source.json")
    np.testing.assert_array_equal(bundle_from_run(Run.open(run.path)).predict_proba(X),
                                  expected)


@pytest.mark.slow
def test_a_changed_or_missing_source_is_one_clear_line(image_folder, tmp_path):
    import keras

    weights = tmp_path / "backbone.weights.h5"

    def backbone(seed):
        keras.utils.set_random_seed(seed)
        keras.applications.VGG16(include_top=False, weights=None,
                                 input_shape=(32, 32, 3)).save_weights(str(weights))

    backbone(1)
    result, run = head_only(image_folder, tmp_path / "runs", weights=str(weights))
    source = json.loads((run.path / "source.json").read_text())
    assert "backbone.weights.h5" in source["weights"] and source["rebuildable"]
    assert disk_usage(run.path / "checkpoints") < 1e6
    np.testing.assert_array_equal(bundle_from_run(run).predict_proba(X),
                                  result.bundle.predict_proba(X))

    backbone(2)                                    # the file was replaced
    with pytest.raises(UserError) as e:
        bundle_from_run(Run.open(run.path))
    message = str(e.value)
    assert "\n" not in message and "changed since the run started" in message
    assert "backbone.weights.h5" in message and "block1_conv1/kernel" in message
    assert "Put the original weights back" in message

    weights.unlink()                               # …or went missing
    with pytest.raises(UserError) as e:
        bundle_from_run(Run.open(run.path))
    assert "cannot be loaded now" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("strategy", ["lora", "qlora"])
def test_lora_and_int8_runs_save_adapters_and_head_only(tiny_bert_preset, text_csv,
                                                        tmp_path, strategy):
    job = TrainJob(model=ModelSpec("bert", preset=str(tiny_bert_preset), seq_len=16),
                   data=str(text_csv), strategy=strategy, lora_rank=2, epochs=2,
                   batch_size=8, lr=1e-2, seed=5)
    result = fine_tune(job, run_dir=tmp_path / "runs")
    run = Run.open(result.run_path)
    with np.load(run.path / "checkpoints" / "last" / VARIABLES) as saved:
        keys = saved.files
    assert keys and all("lora_kernel" in k or k.startswith("logits/") for k in keys), keys
    texts = ["this is good", "the worst"]
    np.testing.assert_allclose(bundle_from_run(run).predict_proba(texts),
                               result.bundle.predict_proba(texts), atol=1e-6)
