"""ONNX and LiteRT beside the SavedModel: raw input in, ``probs`` out, parity measured
by each format's own runtime in a fresh process; int8 LiteRT accuracy close to float;
the weights stored once; the model card; exporting again from an export or a run."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from desktop_ft.cli import main
from desktop_ft.core.export import export_model
from desktop_ft.core.models import ModelSpec
from desktop_ft.core.training import TrainJob, fine_tune

# The formats are the point, not the network: vgg16's layers at a few channels each.
pytestmark = pytest.mark.usefixtures("narrow_vgg16")

RUNTIME = textwrap.dedent("""
    import json, sys, numpy as np
    kind, path, npz = sys.argv[1:4]
    data = dict(np.load(npz))
    if kind == "onnx":
        import onnxruntime as ort
        s = ort.InferenceSession(path)
        assert [o.name for o in s.get_outputs()] == ["probs"]
        probs = s.run(["probs"], {i.name: data[i.name] for i in s.get_inputs()})[0]
    else:
        from ai_edge_litert.interpreter import Interpreter
        runner = Interpreter(model_path=path).get_signature_runner()
        n = len(next(iter(data.values())))
        probs = np.concatenate([runner(**{k: v[i:i + 1] for k, v in data.items()})["probs"]
                                for i in range(n)])
    print(json.dumps({"probs": probs.tolist(), "tf": "tensorflow" in sys.modules}))
""")


def run_fresh(kind, path, inputs, tmp_path):
    npz = tmp_path / "inputs.npz"
    np.savez(npz, **inputs)
    proc = subprocess.run([sys.executable, "-c", RUNTIME, kind, str(path), str(npz)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not out["tf"]          # the user's runtime alone, no TensorFlow
    return np.array(out["probs"])


@pytest.fixture(scope="module")
def trained_images(image_folder):
    job = TrainJob(model=ModelSpec("vgg16", weights="none", image_size=32),
                   data=str(image_folder), epochs=2, batch_size=8, strategy="full")
    return fine_tune(job)


@pytest.fixture(scope="module")
def image_export(trained_images, tmp_path_factory):
    """The trained VGG16 exported in every format, as a user exports it (only read)."""
    r = trained_images
    out = tmp_path_factory.mktemp("image_export") / "out"
    record = export_model(r.bundle, out, r.classes, samples=r.parity_samples(),
                          info=r.export_info(), formats="saved_model,keras,onnx,litert",
                          representative=r.parity_samples(16), validation=r.validation_inputs())
    return record, out


def test_image_formats_parity_int8_size_and_card(trained_images, image_export, tmp_path):
    r = trained_images
    record, out = image_export
    names = sorted(p.name for p in out.iterdir())
    assert names == ["README.md", "export.json", "labels.json", "model.keras", "model.onnx",
                     "model.tflite", "model_int8.tflite", "saved_model"]
    fmt = record["formats"]
    for key in ("onnx", "litert"):
        assert fmt[key]["parity_max_abs_diff"] < 1e-5, (key, fmt[key])
    int8 = fmt["litert_int8"]
    assert int8["bytes"] < fmt["litert"]["bytes"] / 3
    assert abs(int8["accuracy"] - int8["float_accuracy"]) <= 0.2   # 6 validation images
    # Each file run by its own runtime, here too, on an image the app resizes itself.
    img = np.random.default_rng(4).integers(0, 256, (45, 61, 3), dtype=np.uint8)
    x = r.bundle.modality.format_inputs(r.bundle, [img])
    app = r.bundle.predict_proba(list(x["images"]))
    for kind, name in (("onnx", "model.onnx"), ("litert", "model.tflite")):
        np.testing.assert_allclose(run_fresh(kind, out / name, x, tmp_path), app, atol=1e-5)
    # Weights stored once: SavedModel variables ≈ model.keras ≈ float32 weights.
    variables = sum(p.stat().st_size for p in (out / "saved_model" / "variables").rglob("*"))
    assert variables < 1.1 * record["weights_bytes_float32"]
    assert record["keras_bytes"] < 1.1 * record["weights_bytes_float32"]
    card = (out / "README.md").read_text()
    for part in ("## Metrics", "## Parity with the app", "onnxruntime", "Interpreter",
                 "tf.saved_model.load", "keras.saving.load_model", "LiteRT int8",
                 "training examples — blue: ", "| **blue** |"):
        assert part in card, part


def test_keras_only_export_says_what_it_lacks(trained_images, image_folder, tmp_path,
                                              capsys):
    from desktop_ft.core.export import parity_line

    r = trained_images
    out = tmp_path / "keras_only"
    record = export_model(r.bundle, out, r.classes, formats="keras")
    assert parity_line(record) == "no format to check (Keras only)"
    # evaluate runs model.keras instead, and says why and how to add the SavedModel.
    assert main(["evaluate", str(out), "--data", str(image_folder), "--json"]) == 0
    captured = capsys.readouterr()
    assert "Ran model.keras of keras_only: it has no SavedModel" in captured.err
    assert "--formats saved_model,keras" in captured.err
    assert json.loads(captured.out.strip().splitlines()[-1])["examples"] == 24
    image = sorted(image_folder.rglob("*.png"))[0]
    assert main(["predict", str(out), str(image), "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    from desktop_ft.core.data.datasets import load_image_rgb

    expected = r.bundle.predict_proba([load_image_rgb(str(image))])[0]
    assert np.allclose([row["probs"][c] for c in r.classes], expected, atol=1e-5)


def test_text_formats_and_tokenizer(tiny_bert_preset, text_csv, tmp_path):
    job = TrainJob(model=ModelSpec("bert", preset=str(tiny_bert_preset), seq_len=16),
                   data=str(text_csv), epochs=1, batch_size=8, strategy="full")
    r = fine_tune(job)
    out = tmp_path / "text"
    record = export_model(r.bundle, out, r.classes, samples=r.parity_samples(),
                          formats="keras,onnx,litert", representative=r.parity_samples(8))
    assert not (out / "saved_model").exists() and (out / "tokenizer.json").exists()
    assert record["tokenizer"]["matches_app"] and record["tokenizer"]["model"] == "WordPiece"
    assert "keras-hub preset" in record["tokenizer"]["source"]
    assert record["formats"]["onnx"]["parity_max_abs_diff"] < 1e-5
    assert record["formats"]["litert"]["parity_max_abs_diff"] < 1e-5
    # A user's path: tokenizers → onnxruntime, no TensorFlow.
    texts = ["this is good", "a bad sad thing!"]
    from tokenizers import Tokenizer

    enc = Tokenizer.from_file(str(out / "tokenizer.json")).encode_batch(texts)
    feed = {"token_ids": np.array([e.ids for e in enc], np.int32),
            "padding_mask": np.array([e.attention_mask for e in enc], np.int32)}
    np.testing.assert_allclose(run_fresh("onnx", out / "model.onnx", feed, tmp_path),
                               r.bundle.predict_proba(texts), atol=1e-5)


def test_reexport_from_an_export_and_from_a_run(trained_images, image_export, tmp_path,
                                                capsys):
    r = trained_images
    first = image_export[1]        # an export of the run's model, with export.json
    assert main(["export", str(first), str(tmp_path / "again"), "--formats", "onnx",
                 "--json"]) == 0
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert again["formats"]["onnx"]["parity_max_abs_diff"] < 1e-5
    record = json.loads((tmp_path / "again" / "export.json").read_text())
    assert record["reexported_from"] == str(first) and record["strategy"] == "full"
    assert main(["export", r.run_path, str(tmp_path / "from_run"), "--formats",
                 "saved_model,litert", "--json"]) == 0
    from_run = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert from_run["run"] == r.run_path and from_run["epoch"] == 2
    assert from_run["formats"]["litert"]["parity_max_abs_diff"] < 1e-5
    assert "accuracy" in from_run["formats"]["litert_int8"]
    assert main(["export", str(first), str(tmp_path / "x"), "--formats", "pdf"]) == 1
    assert "Unknown export format pdf" in capsys.readouterr().err
