""""None of these": below a confidence the model answers "unknown" — predict and
evaluate (how many were answered unknown, the accuracy on the rest) from the export's
decision or --unknown-below; export carries it into export.json; the project file
keeps it."""

import json

import numpy as np
import pytest

from desktop_ft.cli import main
from desktop_ft.core.data.datasets import load_image_rgb
from desktop_ft.core.errors import UserError
from desktop_ft.core.export import export_model
from desktop_ft.core.models import ModelSpec, load_model
from desktop_ft.core.models.decision import Decision

pytestmark = pytest.mark.usefixtures("narrow_vgg16")


def last_json(capsys):
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def unsure_export(image_folder, tmp_path_factory):
    """An untrained model exported with a temperature and an "unknown" threshold at the
    median of its top probabilities on the image folder: half its answers are unknown."""
    import keras

    keras.utils.set_random_seed(5)
    bundle = load_model(ModelSpec("vgg16", weights="none", image_size=32, num_classes=3))
    bundle.classes = ["blue", "green", "red"]
    head = bundle.model.layers[-1]
    kernel, bias = head.get_weights()
    head.set_weights([kernel * 20, bias])
    files = sorted(str(p) for p in image_folder.rglob("*.*"))
    bundle.decision = Decision(temperature=2.5)
    probs = bundle.predict_proba([load_image_rgb(f) for f in files])
    top = probs.max(axis=1)
    threshold = float(np.median(top))
    bundle.decision = Decision(temperature=2.5, unknown_below=threshold)
    out = tmp_path_factory.mktemp("unsure") / "out"
    export_model(bundle, out, bundle.classes, formats="keras")
    return out, files, probs, threshold


def test_predict_answers_unknown_below_the_exports_threshold(unsure_export, capsys):
    out, files, probs, threshold = unsure_export
    assert json.loads((out / "export.json").read_text())["decision"]["unknown_below"] == \
        threshold
    low, high = int(probs.max(1).argmin()), int(probs.max(1).argmax())
    assert main(["predict", str(out), files[low], files[high], "--json"]) == 0
    rows = last_json(capsys)
    assert rows[0]["label"] == "unknown" and rows[0]["unknown"]
    assert rows[1]["label"] == ["blue", "green", "red"][int(probs[high].argmax())]
    assert not rows[1]["unknown"]
    assert max(rows[0]["probs"].values()) == pytest.approx(float(probs[low].max()), abs=1e-5)
    # --unknown-below overrides the export's; the text output says "unknown" too.
    assert main(["predict", str(out), files[low], "--unknown-below", "0", "--json"]) == 0
    assert last_json(capsys)[0]["unknown"] is False
    assert main(["predict", str(out), files[high], "--unknown-below", "1"]) == 0
    assert ": unknown  (" in capsys.readouterr().out


def test_evaluate_reports_unknown_and_accuracy_on_the_rest(unsure_export, image_folder,
                                                           capsys):
    out, files, probs, threshold = unsure_export
    assert main(["evaluate", str(out), "--data", str(image_folder), "--json"]) == 0
    ev = last_json(capsys)
    classes = ["blue", "green", "red"]
    labels = np.array([classes.index(f.split("/")[-2]) for f in files])
    order = np.argsort([f for f in files])
    answered = probs.max(1) >= threshold
    unknown = ev["unknown"]
    assert unknown["examples"] == 24 and unknown["unknown_below"] == threshold
    assert unknown["answered_unknown"] == int((~answered).sum()) > 0
    assert unknown["coverage"] == pytest.approx(answered.mean())
    right = probs.argmax(1) == labels
    assert unknown["accuracy_answered"] == pytest.approx(right[answered].mean())
    assert unknown["accuracy_all"] == pytest.approx(ev["accuracy"])
    assert len(order) == 24
    report = out.parent / "report.html"
    assert main(["evaluate", str(out), "--data", str(image_folder), "--unknown-below",
                 "0.0", "--report", str(report)]) == 0
    assert "Unknown below 0%: 0 of 24 answered unknown" in capsys.readouterr().out
    page = report.read_text()
    assert "Unknown below 0%: 0 of 24 answered unknown" in page
    assert "Temperature 2.5." in page      # no reliability record: fitted elsewhere


def test_export_carries_unknown_below_and_bad_values_are_refused(unsure_export, tmp_path,
                                                                 capsys):
    out = unsure_export[0]
    assert main(["export", str(out), str(tmp_path / "again"), "--formats", "keras",
                 "--unknown-below", "0.9"]) == 0
    decision = json.loads((tmp_path / "again" / "export.json").read_text())["decision"]
    assert decision["unknown_below"] == 0.9 and decision["temperature"] == 2.5
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        main(["predict", str(out), "x.png", "--unknown-below", "1.5"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "expected a probability from 0 to 1, got 1.5" in err
    assert len(err.strip().splitlines()) == 1


def test_project_file_keeps_unknown_below(tmp_path):
    from desktop_ft.core.project import Project, load_project, save_project
    from desktop_ft.core.training import TrainJob

    path = tmp_path / "p.json"
    save_project(path, Project(TrainJob(data=str(tmp_path)), unknown_below=0.65))
    assert load_project(path).unknown_below == 0.65
    record = json.loads(path.read_text())
    record["unknown_below"] = 7
    path.write_text(json.dumps(record))
    with pytest.raises(UserError, match="unknown_below must be a probability from 0 to 1"):
        load_project(path)
    del record["unknown_below"]          # a project saved before it existed
    path.write_text(json.dumps(record))
    assert load_project(path).unknown_below is None


def test_train_from_a_project_carries_its_unknown_below_into_the_export(image_folder,
                                                                        tmp_path):
    from desktop_ft.core.project import Project, save_project
    from desktop_ft.core.training import TrainJob

    project = tmp_path / "p.json"
    job = TrainJob(model=ModelSpec("vgg16", weights="none", image_size=32),
                   data=str(image_folder), epochs=1, batch_size=8, strategy="head")
    save_project(project, Project(job, unknown_below=0.4))
    out = tmp_path / "out"
    assert main(["train", "--project", str(project), "--export", str(out), "--formats",
                 "keras", "--run-dir", str(tmp_path / "runs")]) == 0
    assert json.loads((out / "export.json").read_text())["decision"]["unknown_below"] == 0.4
    assert main(["train", "--project", str(project), "--unknown-below", "0.8", "--export",
                 str(tmp_path / "out2"), "--formats", "keras", "--run-dir",
                 str(tmp_path / "runs")]) == 0
    assert json.loads((tmp_path / "out2" / "export.json").read_text())["decision"][
        "unknown_below"] == 0.8
