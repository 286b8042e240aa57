"""Text where tensorflow-text cannot be imported (it has no Windows wheel), with
TensorFlow installed: the tiny BERT trains on TensorFlow (and PyTorch), the export writes
every other format and says the SavedModel was left out and why, and evaluate (with its
HTML report), predict and explain run the export's model.keras or model.onnx.

Every process the app starts has tensorflow-text blocked, the export's TensorFlow
subprocess and the ONNX runtime check included: a ``tensorflow_text`` package that raises
ImportError comes first on PYTHONPATH, which child processes inherit. The commands run
as the CLI, each in its own process (this test process may have imported the real one).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from desktop_ft.core import backend

pytestmark = pytest.mark.slow
BLOCKED = "tensorflow_text is blocked by the test (no Windows wheel)"


@pytest.fixture(scope="module")
def blocked_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("no_tensorflow_text")
    (root / "tensorflow_text").mkdir()
    (root / "tensorflow_text" / "__init__.py").write_text(f"raise ImportError({BLOCKED!r})\n")
    paths = [str(root), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("KERAS_BACKEND", None)
    return env


def start(env, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "desktop_ft", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen) -> tuple[str, str]:
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, (out + err)[-3000:]
    return out, err


@pytest.fixture(scope="module")
def exports(blocked_env, tiny_bert_preset, text_csv, tmp_path_factory):
    """{backend: (export folder, train's stdout)}, trained side by side: TensorFlow asked
    for the default formats plus ONNX; PyTorch (whose SavedModel a TensorFlow subprocess
    would write) asked for the SavedModel alone."""
    root = tmp_path_factory.mktemp("text_exports")
    common = ["train", "--model", "bert", "--preset", str(tiny_bert_preset), "--data",
              str(text_csv), "--seq-len", "16", "--epochs", "1", "--batch-size", "8"]
    runs = {"tensorflow": ["--formats", "saved_model,keras,onnx"]}
    if backend.installed("torch"):
        runs["torch"] = ["--formats", "saved_model"]
    procs = {name: start(blocked_env, *common, "--backend", name, "--export",
                         str(root / name), *formats) for name, formats in runs.items()}
    return {name: (root / name, finish(proc)[0]) for name, proc in procs.items()}


def test_the_block_reaches_grandchildren(blocked_env):
    """What the test rests on: a process started by a process of the app sees the
    blocking package too (the export's TensorFlow subprocess is one)."""
    code = ("import subprocess, sys; err = subprocess.run([sys.executable, '-c', "
            "'import tensorflow_text'], capture_output=True, text=True).stderr; "
            f"sys.exit(0 if 'ImportError: ' + {BLOCKED!r} in err else 3)")
    assert subprocess.run([sys.executable, "-c", code], env=blocked_env,
                          timeout=120).returncode == 0


def _check_export(folder, stdout: str, backend_name: str) -> dict:
    record = json.loads((folder / "export.json").read_text())
    assert record["backend"] == backend_name
    assert "saved_model" not in record["formats_written"]
    assert not (folder / "saved_model").exists()
    why = record["formats_not_written"]["saved_model"]
    # The reason comes from the process that would have written it (on torch, the
    # TensorFlow subprocess): it could not import tensorflow-text.
    assert "tensorflow-text" in why and BLOCKED in why and "Windows" in why
    assert "Export failed" not in stdout
    assert "Not written — SavedModel" in stdout
    assert f"desktop-ft export {folder} NEW_OUT --formats keras,saved_model" in stdout
    assert record["tokenizer"]["matches_app"]
    assert f"* **Not written:** saved_model — {why}" in (folder / "README.md").read_text()
    return record


def test_tensorflow_export_writes_every_other_format(exports):
    folder, stdout = exports["tensorflow"]
    record = _check_export(folder, stdout, "tensorflow")
    assert record["formats_written"] == ["keras", "onnx"]
    assert record["formats"]["onnx"]["parity_max_abs_diff"] < 1e-5
    assert sorted(p.name for p in folder.iterdir()) == [
        "README.md", "export.json", "labels.json", "model.keras", "model.onnx",
        "tokenizer.json"]


@pytest.mark.skipif(not backend.installed("torch"), reason="torch is not installed")
def test_saved_model_asked_alone_still_gives_a_usable_export(exports):
    folder, stdout = exports["torch"]
    record = _check_export(folder, stdout, "torch")
    assert record["formats_written"] == ["keras"]
    assert {"model.keras", "tokenizer.json", "labels.json"} <= {p.name for p in
                                                                folder.iterdir()}


def test_evaluate_predict_and_explain_run_the_export(exports, blocked_env, text_csv,
                                                     tmp_path):
    folder, _ = exports["tensorflow"]
    onnx_only = tmp_path / "onnx_only"
    shutil.copytree(folder, onnx_only)
    (onnx_only / "model.keras").unlink()
    texts = ["this is good", "this is awful"]
    procs = {
        "evaluate": start(blocked_env, "evaluate", str(folder), "--data", str(text_csv),
                          "--report", str(tmp_path / "report.html"), "--json"),
        "predict": start(blocked_env, "predict", str(folder), *texts, "--json"),
        "explain": start(blocked_env, "explain", str(folder), *texts, "--json"),
        "onnx": start(blocked_env, "predict", str(onnx_only), *texts, "--json"),
    }
    results = {name: finish(proc) for name, proc in procs.items()}
    last = {name: json.loads(out.strip().splitlines()[-1]) for name, (out, _) in
            results.items()}
    for name, runs in (("evaluate", "model.keras"), ("predict", "model.keras"),
                       ("onnx", "model.onnx")):
        assert f"Ran {runs} of" in results[name][1] and "tensorflow-text" in results[name][1]
    assert last["evaluate"]["examples"] == 24
    assert sum(map(sum, last["evaluate"]["confusion_matrix"])) == 24
    report = (tmp_path / "report.html").read_text()
    assert "Confusion matrix" in report and "Top mistakes" in report

    def probs(rows):
        return np.array([[row["probs"][c] for c in ("neg", "pos")] for row in rows])

    keras_probs = probs(last["predict"])
    np.testing.assert_allclose(keras_probs.sum(1), 1, atol=1e-5)
    np.testing.assert_allclose(probs(last["explain"]), keras_probs, atol=1e-5)
    np.testing.assert_allclose(probs(last["onnx"]), keras_probs, atol=1e-5)
    assert [row["tokens"][:2] for row in last["explain"]] == [["this", "is"]] * 2


def test_a_missing_tensorflow_text_is_found_without_importing(monkeypatch):
    """Where tensorflow-text is not installed at all (Windows), a torch or JAX export
    knows before it starts a TensorFlow process that the SavedModel cannot be written."""
    from types import SimpleNamespace

    from desktop_ft.core.export.plan import less_unwritable_saved_model
    from desktop_ft.core.models import modality_for

    monkeypatch.setattr(backend, "installed", lambda name: name != "tensorflow_text")
    text = SimpleNamespace(modality=modality_for("bert"))
    formats, info = less_unwritable_saved_model(text, ("saved_model", "keras"), {"run": "r"},
                                                try_import=False)
    assert formats == ("keras",) and info["run"] == "r"
    assert "tensorflow-text, which is not installed" in info["formats_not_written"][
        "saved_model"]
    assert less_unwritable_saved_model(text, ("saved_model",), None,
                                        try_import=False)[0] == ("keras",)
    images = SimpleNamespace(modality=modality_for("vgg16"))
    assert less_unwritable_saved_model(images, ("saved_model",), None) == \
        (("saved_model",), None)
