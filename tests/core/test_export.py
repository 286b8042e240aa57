"""Export: raw-input SavedModel parity (also reloaded in a fresh process), the folder
contract, and atomic replacement."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from desktop_ft.core.export import ExportedModel
from desktop_ft.core.export import writer as export_mod
from desktop_ft.core.export import writers as export_writers
from desktop_ft.core.errors import UserError
from desktop_ft.core.models import ModelSpec
from desktop_ft.core.training import TrainJob, fine_tune

FRESH_PROCESS = textwrap.dedent("""
    import json, sys, numpy as np, tensorflow as tf
    folder, kind, inputs_file = sys.argv[1:4]
    if kind == "text":
        import tensorflow_text  # registers the tokenizer ops
    serve = tf.saved_model.load(folder + "/saved_model").signatures["serving_default"]
    if kind == "text":
        texts = json.load(open(inputs_file))
        out = serve(texts=tf.constant(texts))
        probs = out["probs"].numpy()
    else:
        arrays = np.load(inputs_file)
        probs = np.concatenate([serve(images=tf.constant(arrays[k][None]))["probs"].numpy()
                                for k in sorted(arrays.files)])
    print(json.dumps({"probs": probs.tolist(),
                      "labels": [s.decode() for s in out["label"].numpy()]
                      if kind == "text" else None}))
""")


def run_fresh(folder, kind, inputs_file):
    proc = subprocess.run([sys.executable, "-c", FRESH_PROCESS, str(folder), kind,
                           str(inputs_file)], capture_output=True, text=True, timeout=300,
                          env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def trained_vgg(image_folder):
    job = TrainJob(model=ModelSpec("vgg16", weights="none", image_size=32),
                   data=str(image_folder), epochs=1, batch_size=8, strategy="partial")
    return fine_tune(job)


def test_image_export_contract_and_parity_in_fresh_process(trained_vgg, tmp_path):
    out = tmp_path / "out"
    rng = np.random.default_rng(5)
    samples = [rng.integers(0, 256, (40, 40, 3), dtype=np.uint8),
               rng.integers(0, 256, (97, 150, 3), dtype=np.uint8)]
    record = export_mod.export_model(trained_vgg.bundle, out, trained_vgg.classes,
                                     samples=samples, info={"metrics": {"accuracy": 0.5}})
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "export.json",
                                                     "labels.json", "model.keras",
                                                     "saved_model"]
    assert json.loads((out / "labels.json").read_text()) == ["blue", "green", "red"]
    saved = json.loads((out / "export.json").read_text())
    assert saved == {k: v for k, v in record.items() if k != "path"}
    assert record["path"] == str(out.resolve())
    assert saved["model"] == "vgg16" and saved["image_size"] == 32
    assert saved["strategy"] == "partial" and saved["metrics"] == {"accuracy": 0.5}
    assert saved["trainable_params"] + saved["frozen_params"] == 14_716_227
    assert saved["parity_max_abs_diff"] < 1e-5 and saved["parity_samples"] == 4
    assert "block1/block1_conv1" in saved["frozen_layers"]

    np.savez(tmp_path / "inputs.npz", a=samples[0], b=samples[1])
    fresh = run_fresh(out, "images", tmp_path / "inputs.npz")
    keras_probs = trained_vgg.bundle.predict_proba(samples)
    assert np.max(np.abs(np.array(fresh["probs"]) - keras_probs)) < 1e-5
    assert np.allclose(np.array(fresh["probs"]).sum(axis=1), 1.0, atol=1e-5)


def test_exported_model_runs_any_size_and_keras_file_reloads(trained_vgg, tmp_path):
    import keras

    out = tmp_path / "o"
    export_mod.export_model(trained_vgg.bundle, out, trained_vgg.classes)
    exported = ExportedModel(out)
    imgs = [np.full((h, w, 3), 128, np.uint8) for h, w in ((32, 32), (224, 300), (33, 45))]
    np.testing.assert_allclose(exported.predict_proba(imgs),
                               trained_vgg.bundle.predict_proba(imgs), atol=1e-5)
    reloaded = keras.saving.load_model(out / "model.keras")
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(reloaded.predict(x, verbose=0),
                               trained_vgg.bundle.model.predict(x, verbose=0), atol=1e-6)


def test_failed_export_leaves_previous_intact(trained_vgg, tmp_path, monkeypatch):
    out = tmp_path / "out"
    export_mod.export_model(trained_vgg.bundle, out, trained_vgg.classes)
    before = {p.relative_to(out): p.stat().st_mtime_ns for p in out.rglob("*")}

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(export_writers, "measure_parity", boom)
    with pytest.raises(UserError, match="previous export .* is unchanged"):
        export_mod.export_model(trained_vgg.bundle, out, trained_vgg.classes)
    after = {p.relative_to(out): p.stat().st_mtime_ns for p in out.rglob("*")}
    assert after == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]   # no temporary folders left


def test_refuses_to_overwrite_a_foreign_folder(trained_vgg, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    with pytest.raises(UserError, match="not a desktop-ft export"):
        export_mod.export_model(trained_vgg.bundle, tmp_path / "mine", trained_vgg.classes)
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "precious"


def test_binary_text_export_parity_in_fresh_process(tiny_bert_preset, text_folder, tmp_path):
    job = TrainJob(model=ModelSpec("bert", preset=str(tiny_bert_preset), seq_len=16),
                   data=str(text_folder), epochs=1, batch_size=8, strategy="full")
    result = fine_tune(job)
    out = tmp_path / "text_out"
    record = export_mod.export_model(result.bundle, out, result.classes,
                                     samples=["this is good", "bad awful"])
    assert record["input"] == "text" and record["output_activation"] == "sigmoid"
    assert record["parity_max_abs_diff"] < 1e-5
    texts = ["this is love", "hate hate", "an unknown word"]
    (tmp_path / "texts.json").write_text(json.dumps(texts))
    fresh = run_fresh(out, "text", tmp_path / "texts.json")
    keras_probs = result.bundle.predict_proba(texts)
    assert np.array(fresh["probs"]).shape == (3, 2)
    assert np.max(np.abs(np.array(fresh["probs"]) - keras_probs)) < 1e-5
    assert fresh["labels"] == [result.classes[i] for i in keras_probs.argmax(axis=1)]


@pytest.fixture
def small_disk(tmp_path):
    """A real 30 MB file system (tmpfs), so a full disk is not simulated."""
    import os

    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=30m", "tmpfs",
                                            str(mount)]).returncode != 0:
        pytest.skip("needs root to mount a small tmpfs")
    yield mount
    subprocess.run(["umount", str(mount)])


def test_full_disk_is_one_clear_line_and_keeps_the_previous_export(trained_vgg, small_disk):
    out = small_disk / "out"
    out.mkdir()
    (out / "export.json").write_text("{}")            # a previous export
    with pytest.raises(UserError) as e:
        export_mod.export_model(trained_vgg.bundle, out, trained_vgg.classes)
    msg = str(e.value)
    assert msg.startswith(f"Not enough disk space in {small_disk}")
    assert "MB are free" in msg and "previous export" in msg and "\n" not in msg
    assert "SaveV2" not in msg and "ResourceExhausted" not in msg
    assert sorted(p.name for p in small_disk.iterdir()) == ["out"]      # no leftovers
    assert (out / "export.json").read_text() == "{}"
    # The estimate can be wrong: a write that runs out of space says the same.
    import shutil

    real = shutil.disk_usage
    export_mod.shutil.disk_usage = lambda p: real(p)._replace(free=1 << 40)
    try:
        with pytest.raises(UserError, match="Not enough disk space"):
            export_mod.export_model(trained_vgg.bundle, out, trained_vgg.classes)
    finally:
        export_mod.shutil.disk_usage = real
    assert sorted(p.name for p in small_disk.iterdir()) == ["out"]
    assert (out / "export.json").read_text() == "{}"
