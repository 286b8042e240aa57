"""Files written before issue 35's vocabulary still open: their model spec names the
architecture under the key ``"family"`` (today ``"architecture"``). The fixtures in
``tests/core/before_vocabulary/`` are a project file, a run folder's run.json and an
export's export.json as desktop-ft wrote them then."""

import json
import shutil
from pathlib import Path

from desktop_ft.core.models import ModelSpec

OLD = Path(__file__).parent / "before_vocabulary"


def test_a_spec_dict_reads_family_as_architecture():
    assert ModelSpec.from_dict({"family": "BERT"}).architecture == "bert"
    assert "family" not in ModelSpec.from_dict({"family": "bert"}).to_dict()
    # A newer key wins over an old one left beside it.
    assert ModelSpec.from_dict({"family": "bert", "architecture": "vgg16"}).architecture \
        == "vgg16"


def test_an_old_project_file_opens(tmp_path):
    from desktop_ft.core.project import load_project

    shutil.copy(OLD / "project.json", tmp_path / "old.json")
    project = load_project(tmp_path / "old.json")
    assert project.job.model.architecture == "bert"
    assert project.job.model.preset == "bert_tiny_en_uncased"
    assert project.job.model.seq_len == 64 and project.job.epochs == 3


def test_an_old_run_folder_opens(tmp_path):
    from desktop_ft.core.training import TrainJob
    from desktop_ft.core.training.runs import Run, list_runs

    shutil.copytree(OLD / "run-20261201-120000-bert", tmp_path / "run-20261201-120000-bert")
    run = Run.open(tmp_path / "run-20261201-120000-bert")
    job = TrainJob.from_dict(run.record["job"])          # as resume reads it
    assert job.model.architecture == "bert" and job.model.seq_len == 64
    [row] = list_runs(tmp_path)
    assert row["model"] == "bert"


def test_an_old_export_opens(tmp_path):
    import keras

    from desktop_ft.core.explain import load_export_bundle
    from desktop_ft.core.models import modality_for

    folder = tmp_path / "export"
    shutil.copytree(OLD / "export", folder)
    inputs = keras.Input((32, 32, 3))
    pooled = keras.layers.GlobalAveragePooling2D(name="head_pool")(inputs)
    outputs = keras.layers.Dense(1, activation="sigmoid", name="head_output")(pooled)
    keras.Model(inputs, outputs).save(folder / "model.keras")
    bundle = load_export_bundle(folder)
    assert bundle.architecture == "mobilenet_v2"       # not the default, vgg16
    assert bundle.modality is modality_for("mobilenet_v2")
    assert bundle.spec.image_size == 32
    assert bundle.classes == json.loads((folder / "export.json").read_text())["classes"]
