"""Multi-label models (issue 32): one sigmoid per label trained with binary
cross-entropy, for every strategy of both modalities, on tasks whose labels are visible
in the input; each label's threshold chosen on the validation split (best F1) and kept
with the model; the feature cache, run folders and resume as for one label per example.

"Learned" is measured on a test split the thresholds never saw: the mean average
precision (threshold-free) against a constant answer's (each label's prevalence), and
the macro-F1 at the chosen thresholds against the best constant answer's (every label
on: F1 = 2p / (1 + p) per label)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from desktop_ft.core.errors import UserError
from desktop_ft.core.models import ModelSpec, load_model, with_num_classes
from desktop_ft.core.training import TrainJob, fine_tune
from desktop_ft.core.training.metrics import best_f1_thresholds, multi_hot
from tests.core.multi_label_data import image_scan, text_scan

pytestmark = pytest.mark.usefixtures("narrow_vgg16")


def chance(scan) -> tuple[float, float]:
    """(mean average precision, macro-F1) of the best constant answers on the test split."""
    truth = multi_hot(scan.test.labels, scan.num_classes)
    p = truth.mean(axis=0)
    return float(p.mean()), float(np.mean(2 * p / (1 + p)))


def assert_learned(result, scan, ap_margin=0.2, f1_margin=0.03):
    ev = result.evaluation
    assert ev["multi_label"] and ev["split"] == "test" and ev["examples"] == len(scan.test)
    ap0, f10 = chance(scan)
    print(f"mAP {ev['mean_average_precision']:.3f} (chance {ap0:.3f}), macro-F1 "
          f"{ev['macro_f1']:.3f} (constant {f10:.3f})")
    assert ev["mean_average_precision"] >= ap0 + ap_margin, (ev, ap0)
    assert ev["macro_f1"] >= f10 + f1_margin, (ev, f10)
    # The thresholds the evaluation used are the ones fitted on validation and kept.
    decision = result.bundle.decision
    assert decision.multi_label and len(decision.thresholds) == scan.num_classes
    assert ev["thresholds"] == pytest.approx(decision.thresholds)


@pytest.fixture(scope="module")
def mixing_bert(tmp_path_factory):
    """The tiny BERT whose [CLS] output depends on the sentence (conftest's
    write_tiny_bert), its random weights fixed."""
    from tests.conftest import write_tiny_bert

    return write_tiny_bert(tmp_path_factory.mktemp("ml_bert") / "preset", mixing=25, seed=3)


def text_job(preset, strategy, **kw):
    return TrainJob(model=ModelSpec("bert", preset=str(preset), seq_len=16),
                    data="synthetic", strategy=strategy, batch_size=8,
                    **{"epochs": 6, "lr": 1e-2, "unfreeze_last": 1, "lora_rank": 2, **kw})


def test_every_head_has_one_sigmoid_per_label(mixing_bert):
    """Text and image heads, built and rebuilt: C sigmoid units; probabilities per label,
    not a distribution; binary is False."""
    bundle = load_model(ModelSpec("bert", preset=str(mixing_bert), seq_len=16,
                                  num_classes=3, multi_label=True))
    assert bundle.model.output_shape == (None, 3) and not bundle.binary
    assert bundle.model.get_layer("logits").activation.__name__ == "sigmoid"
    assert bundle.decision.multi_label and bundle.decision.thresholds is None
    probs = bundle.predict_proba(["this is good", "the bad the", "a"])
    assert probs.shape == (3, 3) and ((probs > 0) & (probs < 1)).all()
    assert not np.allclose(probs.sum(axis=1), 1.0)
    # Two labels stay two sigmoids (not one unit for "two classes").
    two = with_num_classes(bundle, 2, ["a", "b"], multi_label=True)
    assert two.model.output_shape == (None, 2) and two.predict_proba(["good"]).shape == (1, 2)
    single = with_num_classes(two, 2, ["a", "b"], multi_label=False)
    assert single.model.output_shape == (None, 1) and single.binary
    image = load_model(ModelSpec("vgg16", weights="none", image_size=32, num_classes=4,
                                 multi_label=True))
    assert image.model.output_shape == (None, 4)
    assert image.model.get_layer("head_output").activation.__name__ == "sigmoid"
    original = load_model(ModelSpec("vgg16", weights="none", image_size=224, head="original",
                                    num_classes=2, multi_label=True))
    assert original.model.get_layer("predictions_new").activation.__name__ == "sigmoid"
    assert original.model.output_shape == (None, 2)


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["head", "partial", "full", "bitfit", "lora", "qlora",
                                      "two-phase"])
def test_text_strategy_learns_labels(mixing_bert, strategy):
    scan = text_scan()
    kw = {"phase1_epochs": 3} if strategy == "two-phase" else {}
    result = fine_tune(text_job(mixing_bert, strategy, **kw), scan=scan, record_run=False)
    assert result.bundle.model.output_shape == (None, 3)
    assert result.bundle.peft() == {"lora_rank": 2 if "lora" in strategy else None,
                                    "quantized": "int8" if strategy == "qlora" else None}
    assert result.bundle.tree.strategy.startswith(strategy if strategy != "partial"
                                                  else "partial")
    assert_learned(result, scan)


@pytest.mark.slow
@pytest.mark.parametrize("strategy,lr", [("head", 1e-2), ("partial", 1e-3), ("full", 1e-3),
                                         ("two-phase", 1e-3)])
def test_image_strategy_learns_labels(tmp_path, strategy, lr):
    scan = image_scan(tmp_path / "shapes")
    job = TrainJob(model=ModelSpec("vgg16", weights="none", image_size=32), data=scan.root,
                   strategy=strategy, epochs=6, batch_size=8, lr=lr, unfreeze_last=1,
                   phase1_epochs=3 if strategy == "two-phase" else 0)
    result = fine_tune(job, scan=scan, record_run=False)
    if strategy == "head":    # the frozen backbone's features, computed once
        assert result.feature_cache[0]["cut"] == "head_pool", result.feature_cache
        # Grad-CAM of the most probable label, or of the one asked for.
        from desktop_ft.core.data.datasets import load_inputs
        from desktop_ft.core.explain import explain

        [img] = load_inputs("images", scan.test.items[:1])
        [e] = explain(result.bundle, [img])
        assert e["label"] == int(np.argmax(e["probs"])) and e["heatmap"].shape == (32, 32)
        [e2] = explain(result.bundle, [img], label=(e["label"] + 1) % 3)
        assert e2["label"] == (e["label"] + 1) % 3 and np.isfinite(e2["heatmap"]).all()
    assert_learned(result, scan)


@pytest.fixture(scope="module")
def tiny_vit(tmp_path_factory):
    """A tiny ViT (2 layers, hidden 16, 32 px) as a keras-hub preset folder: the image
    network with Dense layers for LoRA and int8, and biases outside BatchNormalization
    for BitFit."""
    from desktop_ft.core.models.image.architectures import ARCHITECTURES
    from tests.core.image_presets import make_preset

    import keras

    keras.utils.set_random_seed(0)
    return make_preset(ARCHITECTURES["vit"], tmp_path_factory.mktemp("ml_vit") / "preset")


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["bitfit", "lora", "qlora"])
def test_image_adapter_strategy_learns_labels(tmp_path, tiny_vit, strategy):
    scan = image_scan(tmp_path / "shapes")
    job = TrainJob(model=ModelSpec("vit", preset=str(tiny_vit)), data=scan.root,
                   strategy=strategy, epochs=6, batch_size=8, lr=1e-2, lora_rank=2)
    result = fine_tune(job, scan=scan, record_run=False)
    assert result.bundle.model.output_shape == (None, 3)
    assert result.bundle.peft() == {"lora_rank": 2 if "lora" in strategy else None,
                                    "quantized": "int8" if strategy == "qlora" else None}
    assert_learned(result, scan)


def test_run_resumes_and_exports_with_its_thresholds(tmp_path):
    """A multi-label run on cached features, stopped after two epochs and resumed: the
    same head, the label sets read back from run.json, the thresholds fitted (on the
    cached validation features, as the full model gives them) recorded in run.json and
    restored by a re-export from the run."""
    import threading

    from desktop_ft.core.data.datasets import load_inputs
    from desktop_ft.core.export.reexport import source_for_reexport
    from desktop_ft.core.observer import Observer
    from desktop_ft.core.training.resume import resume_run

    scan = image_scan(tmp_path / "shapes")
    stop = threading.Event()

    class StopAfterTwo(Observer):
        def on_epoch(self, epoch, logs):
            if epoch == 1:
                stop.set()

    job = TrainJob(model=ModelSpec("vgg16", weights="none", image_size=32), data=scan.root,
                   strategy="head", epochs=4, batch_size=8, lr=1e-2)
    first = fine_tune(job, StopAfterTwo(), stop, scan=scan, run_dir=tmp_path / "runs")
    assert first.stop_reason == "stopped by user"
    run = first.run_path
    record = json.loads((tmp_path / "runs" / run.rsplit("/", 1)[-1] / "run.json").read_text())
    # (Stopped in epoch 3's first batch: its partial epoch is no checkpoint.)
    assert record["epochs_done"] == 2 and record["status"] == "stopped"
    assert record["job"]["model"]["multi_label"] is True
    assert record["split"]["train"]["labels"] == [list(s) for s in scan.train.labels]

    result = resume_run(run)
    assert result.resumed_from == 2 and result.epochs_run == 4
    bundle = result.bundle
    assert bundle.multi_label and bundle.model.output_shape == (None, 3)
    assert result.scan.train.labels == scan.train.labels          # tuples again
    assert result.feature_cache[0]["cut"] == "head_pool", result.feature_cache
    thresholds = bundle.decision.thresholds
    # Fitted on the cached validation features: the full model's probabilities give the
    # same thresholds.
    val_probs = bundle.predict_proba(load_inputs("images", scan.val.items))
    assert best_f1_thresholds(scan.val.labels, val_probs) == pytest.approx(thresholds,
                                                                         abs=1e-5)
    record = json.loads((tmp_path / "runs" / run.rsplit("/", 1)[-1] / "run.json").read_text())
    assert record["decision"]["multi_label"] and record["decision"]["thresholds"] == \
        pytest.approx(thresholds)
    source = source_for_reexport(run)
    assert source.bundle.multi_label and source.bundle.decision == bundle.decision
    # The last checkpoint answers at the thresholds run.json records (here edited, to
    # tell them from a refit); the best one (by validation loss) gets its own, chosen on
    # the run's validation split as training chose the last one's.
    path = tmp_path / "runs" / run.rsplit("/", 1)[-1] / "run.json"
    record["decision"]["thresholds"] = [0.125, 0.5, 0.875]
    path.write_text(json.dumps(record))
    assert source_for_reexport(run).bundle.decision.thresholds == [0.125, 0.5, 0.875]
    best = source_for_reexport(run, best=True).bundle
    assert best.decision.thresholds == pytest.approx(best_f1_thresholds(
        scan.val.labels, best.predict_proba(load_inputs("images", scan.val.items))))
    np.testing.assert_allclose(source.bundle.predict_proba(load_inputs("images",
                                                                       scan.test.items)),
                               bundle.predict_proba(load_inputs("images", scan.test.items)),
                               atol=1e-5)


def test_refusals_say_why(tmp_path, mixing_bert):
    from desktop_ft.core.explain import explain
    from desktop_ft.core.training.label_issues import find_suspects

    scan = text_scan(24, 8, 0)
    job = text_job(mixing_bert, "head", epochs=1, class_weights=True)
    with pytest.raises(UserError, match="several labels per example"):
        fine_tune(job, scan=scan, record_run=False)
    with pytest.raises(UserError, match="several labels per example"):
        find_suspects(text_job(mixing_bert, "head"), scan=scan, folds=2)
    bundle = load_model(ModelSpec("bert", preset=str(mixing_bert), seq_len=16,
                                  num_classes=3, multi_label=True))
    with pytest.raises(UserError, match="no label 3"):
        explain(bundle, ["good"], label=3)
    # Each label can be explained; by default the most probable one.
    [e] = explain(bundle, ["this is good the"])
    assert e["label"] == int(np.argmax(e["probs"]))
    [e2] = explain(bundle, ["this is good the"], label=2)
    assert e2["label"] == 2 and len(e2["scores"]) == len(e["scores"])


def test_learning_rate_finder_sweeps_a_multi_label_head(tmp_path):
    """The range test trains the multi-label head (binary cross-entropy on multi-hot
    targets) on cached features and suggests a rate."""
    from desktop_ft.core.training.lr_finder import find_learning_rate

    scan = image_scan(tmp_path / "shapes", 32, 8, 8)
    job = TrainJob(model=ModelSpec("vgg16", weights="none", image_size=32), data=scan.root,
                   strategy="head", batch_size=8)
    out = find_learning_rate(job, scan=scan, sweep=(1e-5, 1.0, 24))
    assert out["cached"] == "head_pool" and out["suggestion"] > 0
    losses = np.asarray([p["loss"] for p in out["curve"]])
    assert len(losses) >= 10 and np.isfinite(losses).all()
    # Binary cross-entropy over labels starts near log 2, not log 3 (a softmax's).
    assert abs(losses[0] - np.log(2)) < 0.15, losses[:3]


def test_cli_explains_the_label_asked_for(mixing_bert, tmp_path, capsys):
    """``desktop-ft explain OUT TEXT --label NAME``: the evidence for that label of an
    exported multi-label model (default: the most probable label)."""
    from desktop_ft.cli import main
    from desktop_ft.core.export import export_model

    scan = text_scan(32, 16, 0)
    result = fine_tune(text_job(mixing_bert, "head", epochs=1), scan=scan, record_run=False)
    out = tmp_path / "export"
    export_model(result.bundle, out, result.classes, formats="keras",
                 samples=scan.train.items[:2])
    text = "this is good the the"
    assert main(["explain", str(out), text, "--label", "negative", "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert row["label"] == "negative" and len(row["tokens"]) == len(row["scores"]) == 5
    assert main(["explain", str(out), text, "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert row["label"] == max(row["probs"], key=row["probs"].get)
    assert main(["explain", str(out), text, "--label", "sport"]) == 1
    assert "the model's labels are negative, positive, the" in capsys.readouterr().err
