"""Exports of multi-label models (issue 32, point 4): every format returns each label's
probability ``[N, labels]`` in label order, equal to the app's, with parity measured per
format; the SavedModel also says which labels reach their thresholds; ``labels.json``
and ``export.json`` hold the thresholds; ``predict`` prints the labels that pass, each
with its probability; a single-label ``labels.json`` stays a plain list and every
reader takes both."""

import json

import numpy as np
import pytest

from desktop_ft.cli import main
from desktop_ft.core import backend
from desktop_ft.core.errors import UserError
from desktop_ft.core.export import ExportedModel, export_model
from desktop_ft.core.export.exported import _fallback_runner
from desktop_ft.core.export.labels_file import read_labels
from desktop_ft.core.models import ModelSpec, load_model
from desktop_ft.core.models.decision import Decision

pytestmark = pytest.mark.usefixtures("narrow_vgg16")

LABELS = ["red", "green", "blue"]
THRESHOLDS = [0.3, 0.5, 0.7]


def spread_head(bundle, scale: float) -> None:
    """Scale the untrained head so its sigmoids spread over (0, 1) rather than sitting
    near 0.5 (a threshold then separates the labels)."""
    head = bundle.model.layers[-1]
    kernel, bias = head.get_weights()
    head.set_weights([kernel * scale, bias])


@pytest.fixture(scope="module")
def labels_bundle():
    import keras

    keras.utils.set_random_seed(5)
    bundle = load_model(ModelSpec("vgg16", weights="none", image_size=32, num_classes=3,
                                  multi_label=True))
    bundle.classes = list(LABELS)
    spread_head(bundle, 30)
    bundle.decision = Decision(multi_label=True, thresholds=THRESHOLDS)
    return bundle


def images(n=8, seed=7):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (30 + 5 * i, 40, 3), dtype=np.uint8) for i in range(n)]


@pytest.fixture(scope="module")
def labels_export(labels_bundle, tmp_path_factory):
    out = tmp_path_factory.mktemp("ml_export") / "out"
    validation = (images(6, seed=9), [(0,), (1, 2), (), (0, 1, 2), (2,), (1,)])
    record = export_model(labels_bundle, out, LABELS, samples=images(),
                          formats="saved_model,keras,onnx,litert",
                          representative=images(4), validation=validation)
    return record, out


def test_every_image_format_returns_each_labels_probability(labels_bundle, labels_export):
    bundle, (record, out) = labels_bundle, labels_export
    x = images()
    app = bundle.predict_proba(x)
    assert app.shape == (8, 3) and not np.allclose(app.sum(axis=1), 1.0)
    assert ((app > 0.05) & (app < 0.95)).any()     # not all saturated: thresholds matter
    # Parity per format, each run by its own runtime.
    assert record["parity_max_abs_diff"] < 1e-5
    for key in ("onnx", "litert"):
        assert record["formats"][key]["parity_max_abs_diff"] < 1e-5, key
    int8 = record["formats"]["litert_int8"]       # scored on label sets: micro-F1
    assert set(int8) >= {"micro_f1", "float_micro_f1", "validation_examples"}
    assert int8["validation_examples"] == 6 and 0 <= int8["micro_f1"] <= 1
    # The SavedModel: probs in label order and the labels past their thresholds.
    import tensorflow as tf

    serve = tf.saved_model.load(str(out / "saved_model")).signatures["serving_default"]
    batch = np.stack([np.asarray(i) for i in images(3, seed=2)][:1] * 2)
    got = serve(images=tf.constant(batch))
    assert sorted(got) == ["predicted", "probs"]
    probs = got["probs"].numpy()
    np.testing.assert_allclose(probs, bundle.predict_proba(list(batch)), atol=1e-5)
    np.testing.assert_array_equal(got["predicted"].numpy(),
                                  probs >= np.array(THRESHOLDS, np.float32))
    # ExportedModel (SavedModel) and model.keras answer as the app.
    np.testing.assert_allclose(ExportedModel(out).predict_proba(x), app, atol=1e-5)
    runs, predict = _fallback_runner(out, "images", "test")
    assert runs == "model.keras"
    np.testing.assert_allclose(predict(x, 4), app, atol=1e-5)


def test_labels_json_and_export_json_hold_the_thresholds(labels_export):
    record, out = labels_export
    assert json.loads((out / "labels.json").read_text()) == {
        "labels": LABELS, "thresholds": THRESHOLDS, "multi_label": True}
    meta = json.loads((out / "export.json").read_text())
    assert meta["decision"]["multi_label"] and meta["decision"]["thresholds"] == THRESHOLDS
    assert meta["output_activation"] == "sigmoid (per label)"
    assert meta["calibration"] is None and meta["classes"] == LABELS
    assert set(meta["signature"]["outputs"]) == {"probs", "predicted"}
    assert "[N, num_labels]" in meta["signature"]["outputs"]["probs"]
    exported = ExportedModel(out)
    assert exported.labels == LABELS
    assert exported.decision.multi_label and exported.decision.thresholds == THRESHOLDS
    card = (out / "README.md").read_text()
    assert "red ≥ 0.300, green ≥ 0.500, blue ≥ 0.700" in card
    assert 'out["predicted"]' in card and "micro-F1 at the labels' thresholds" in card


def test_reexport_keeps_the_thresholds(labels_bundle, labels_export, tmp_path, capsys):
    """Exporting again from the export (to add a format) reads its labels and
    thresholds back and writes them again; ONNX still answers as the app."""
    _, out = labels_export
    again = tmp_path / "again"
    assert main(["export", str(out), str(again), "--formats", "keras,onnx", "--json"]) == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert record["formats"]["onnx"]["parity_max_abs_diff"] < 1e-5
    assert json.loads((again / "labels.json").read_text())["thresholds"] == THRESHOLDS
    meta = json.loads((again / "export.json").read_text())
    assert meta["decision"]["thresholds"] == THRESHOLDS
    assert meta["output_activation"] == "sigmoid (per label)"


def test_predict_prints_the_labels_that_pass(labels_bundle, labels_export, tmp_path,
                                             capsys):
    from PIL import Image

    _, out = labels_export
    paths = []
    for k, img in enumerate(images(3, seed=4)):
        paths.append(str(tmp_path / f"{k}.png"))
        Image.fromarray(img).save(paths[-1])
    assert main(["predict", str(out), *paths, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    from desktop_ft.core.data.datasets import load_image_rgb

    app = labels_bundle.predict_proba([load_image_rgb(p) for p in paths])
    for row, p in zip(rows, app):
        want = [LABELS[i] for i in np.argsort(-p) if p[i] >= THRESHOLDS[i]]
        assert [a["label"] for a in row["labels"]] == want
        for a in row["labels"]:
            assert a["probability"] == pytest.approx(p[LABELS.index(a["label"])], abs=1e-5)
            assert a["threshold"] == THRESHOLDS[LABELS.index(a["label"])]
        assert row["thresholds"] == dict(zip(LABELS, THRESHOLDS))
        assert list(row["probs"]) == LABELS
    assert main(["predict", str(out), *paths]) == 0
    lines = capsys.readouterr().out.strip().splitlines()[-3:]
    for line, row in zip(lines, rows):
        passed = ", ".join(f"{a['label']} {a['probability']:.3f}" for a in row["labels"])
        assert line.startswith(f"{row['input']}: {passed or '(no label reaches its'}")
        assert "green" in line and "(threshold 0.700)" in line


def test_evaluate_and_report_use_the_exports_thresholds(labels_bundle, labels_export,
                                                        tmp_path, capsys):
    """``evaluate`` on the export reads the table's label sets and scores them at the
    thresholds of the export; the report's mistake cards name the labels predicted
    (those past their thresholds) with their probabilities."""
    from PIL import Image

    from desktop_ft.core.training.metrics import multi_label_metrics

    _, out = labels_export
    sets = [(0,), (1, 2), (), (0, 1, 2), (2,), (1,), (0, 2), ()]
    rows = ["image,labels"]
    for k, img in enumerate(images(len(sets), seed=6)):
        Image.fromarray(img).save(tmp_path / f"{k}.png")
        rows.append(f"{k}.png," + ";".join(LABELS[i] for i in sets[k]))
    table = tmp_path / "tags.csv"
    table.write_text("\n".join(rows) + "\n")
    report = tmp_path / "r.html"
    assert main(["evaluate", str(out), "--data", str(table), "--json", "--report",
                 str(report)]) == 0
    ev = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    app = labels_bundle.predict_proba(images(len(sets), seed=6))
    want = multi_label_metrics(sets, app, LABELS, THRESHOLDS)
    assert ev["multi_label"] and ev["examples"] == len(sets)
    assert ev["thresholds"] == pytest.approx(THRESHOLDS)
    for name in LABELS:
        assert {k: ev["per_label"][name][k] for k in ("tp", "fp", "fn")} == \
            {k: want["per_label"][name][k] for k in ("tp", "fp", "fn")}
    page = report.read_text()
    wrong = [k for k in range(len(sets)) if set(np.flatnonzero(app[k] >= THRESHOLDS)) !=
             set(sets[k])]
    assert wrong      # the untrained model is wrong somewhere: cards are drawn
    for k in wrong:
        passed = sorted(np.flatnonzero(app[k] >= THRESHOLDS), key=lambda i: -app[k][i])
        text = ", ".join(f"{LABELS[i]} {app[k][i]:.0%}" for i in passed) or "(none)"
        assert f"predicted <b>{text}</b>" in page, text


def test_text_formats_return_each_labels_probability(tiny_bert_preset, tmp_path):
    bundle = load_model(ModelSpec("bert", preset=str(tiny_bert_preset), seq_len=16,
                                  num_classes=2, multi_label=True))
    bundle.classes = ["billing", "delivery"]
    spread_head(bundle, 200)
    bundle.decision = Decision(multi_label=True, thresholds=[0.4, 0.6])
    texts = ["this is good", "a bad sad thing!", "the the", "great and awful"]
    out = tmp_path / "text"
    record = export_model(bundle, out, bundle.classes, samples=texts,
                          formats="saved_model,keras,onnx,litert", representative=texts)
    app = bundle.predict_proba(texts)
    assert app.shape == (4, 2) and not np.allclose(app.sum(axis=1), 1.0)
    assert record["parity_max_abs_diff"] < 1e-5
    for key in ("onnx", "litert"):
        assert record["formats"][key]["parity_max_abs_diff"] < 1e-5, key
    exported = ExportedModel(out)
    np.testing.assert_allclose(exported.predict_proba(texts), app, atol=1e-5)
    assert read_labels(out) == (["billing", "delivery"], [0.4, 0.6])


def test_single_label_labels_json_stays_a_list_and_readers_take_both(tmp_path):
    (tmp_path / "labels.json").write_text('["cat", "dog"]')
    assert read_labels(tmp_path) == (["cat", "dog"], None)
    (tmp_path / "labels.json").write_text('{"labels": ["a", "b"], "thresholds": [0.2, 0.9]}')
    assert read_labels(tmp_path) == (["a", "b"], [0.2, 0.9])
    (tmp_path / "labels.json").unlink()
    meta = {"classes": ["x", "y"], "decision": {"multi_label": True, "thresholds": [0.1, 0.2]}}
    assert read_labels(tmp_path, meta) == (["x", "y"], [0.1, 0.2])
    for bad in ('{"labels": ["a"], "thresholds": [0.1, 0.2]}', '{"names": []}', "[1, 2]",
                "not json"):
        (tmp_path / "labels.json").write_text(bad)
        with pytest.raises(UserError, match="labels.json"):
            read_labels(tmp_path)


def test_label_sets_reach_the_export_subprocess(tmp_path):
    """On torch/jax the int8 LiteRT is measured in a TensorFlow subprocess: the held-out
    label sets (of any length, empty too) travel there intact."""
    from desktop_ft.core.export.via_subprocess import read_calibration, write_calibration

    sets = [(0, 2), (), (1,), (0, 1, 2)]
    x = images(4)
    write_calibration(tmp_path / "c.npz", x[:2], (x, sets))
    reps, (vals, labels) = read_calibration(tmp_path / "c.npz", "images")
    assert len(reps) == 2 and len(vals) == 4 and labels == sets
    write_calibration(tmp_path / "s.npz", None, (x, [0, 2, 1, 1]))
    assert read_calibration(tmp_path / "s.npz", "images")[1][1] == [0, 2, 1, 1]


@pytest.mark.skipif(not (backend.installed("torch") and backend.tensorflow_available()),
                    reason="needs torch and TensorFlow")
def test_multi_label_export_from_torch(tmp_path):
    """On the torch backend the SavedModel, ONNX and LiteRT files are written by
    TensorFlow in a subprocess from model.keras: the thresholds and the held-out label
    sets reach it, and every format answers as the torch model did."""
    import os
    import subprocess

    from tests.core.image_presets import narrow_vgg16_cli
    from tests.core.multi_label_data import IMAGE_LABELS, image_split

    split = image_split(tmp_path / "img", 24, seed=13)
    table = tmp_path / "shapes.csv"
    table.write_text("image,labels\n" + "".join(
        f"{path},{';'.join(IMAGE_LABELS[i] for i in labels)}\n"
        for path, labels in zip(split.items, split.labels)))
    out = tmp_path / "out"
    proc = subprocess.run(
        [*narrow_vgg16_cli("torch"), "train", "--backend", "torch", "--model", "vgg16",
         "--weights", "none", "--image-size", "32", "--epochs", "1", "--batch-size", "8",
         "--data", str(table), "--multi-label", "--run-dir", str(tmp_path / "runs"),
         "--export", str(out), "--formats", "saved_model,keras,onnx,litert"],
        capture_output=True, text=True, timeout=900,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    meta = json.loads((out / "export.json").read_text())
    assert meta["backend"] == "torch" and meta["output_activation"] == "sigmoid (per label)"
    thresholds = meta["decision"]["thresholds"]
    assert len(thresholds) == 3
    assert json.loads((out / "labels.json").read_text()) == {
        "labels": IMAGE_LABELS, "thresholds": thresholds, "multi_label": True}
    assert meta["parity_max_abs_diff"] < 1e-4
    for key in ("onnx", "litert"):
        assert meta["formats"][key]["parity_max_abs_diff"] < 1e-4, key
    int8 = meta["formats"]["litert_int8"]
    assert int8["validation_examples"] >= 3 and 0 <= int8["micro_f1"] <= 1
