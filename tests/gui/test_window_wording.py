"""What the window says in its own words (issue 31): "Last N blocks" counts to the loaded
model's blocks and says "all 5 blocks" there; messages name the window's controls, never
a command-line flag; the class-weights box reaches the training job."""

import re

import pytest

from desktop_ft.core.errors import UserError
from desktop_ft.core.training import TrainJob
from tests.conftest import write_image_folder
from tests.gui.conftest import LONG, click, drop_path, load_tiny_vgg


def test_last_n_is_bounded_by_the_models_blocks_and_says_all(qtbot, window):
    w = window
    spin = w.layers_panel.unfreeze_last
    bundle = load_tiny_vgg(qtbot, w)
    assert bundle.tree.block_count == 5
    assert spin.maximum() == 5
    spin.setValue(24)
    assert spin.value() == 5 and spin.text() == "N = 5 (all 5 blocks)"
    click(qtbot, w.layers_panel.buttons["partial"])
    qtbot.waitUntil(lambda: w.controller.tasks.running() == 0)
    # Every block trains: block 1's first convolution too.
    assert bundle.model.get_layer("block1_conv1").trainable
    spin.setValue(2)
    assert spin.text() == "N = 2"


FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")     # a command-line flag


def imbalanced_folder(root):
    write_image_folder(root, classes=("red",), per_class=30)
    return write_image_folder(root, classes=("blue",), per_class=5, seed=1)


def test_the_imbalance_warning_points_to_the_class_weights_box(qtbot, window, tmp_path):
    from desktop_ft.core import data

    w = window
    folder = imbalanced_folder(tmp_path / "imbalanced")
    # The CLI's scan keeps its flag.
    assert any("--class-weights" in s for s in data.scan(folder).warnings)
    drop_path(w, folder)
    qtbot.waitUntil(lambda: w.controller.scan is not None, timeout=LONG)
    shown = w.data_panel.warnings.text()
    assert "Classes are imbalanced: 'red' has 30 examples, 'blue' 5." in shown, shown
    assert not FLAG.search(shown), shown
    assert f"ticking {w.train_panel.class_weights.text()} on the Train tab" in shown


def capture_jobs(monkeypatch) -> list[dict]:
    """The training jobs the window starts, recorded instead of run."""
    from desktop_ft.gui import worker_functions

    seen = []

    def fake_fine_tune(job, *args):
        seen.append(job)
        raise UserError("(stopped by the test)")

    monkeypatch.setattr(worker_functions, "fine_tune", fake_fine_tune)
    return seen


def test_the_class_weights_box_reaches_the_training_job_and_the_project(
        qtbot, window, image_folder, tmp_path, monkeypatch):
    from desktop_ft.core.project import load_project

    w, c = window, window.controller
    box = w.train_panel.class_weights
    assert box.text() == "Class weights (balance classes)" and not box.isChecked()
    drop_path(w, image_folder)
    qtbot.waitUntil(lambda: c.scan is not None and c.tasks.running() == 0, timeout=LONG)
    jobs_seen = capture_jobs(monkeypatch)
    box.setChecked(True)
    click(qtbot, w.train_panel.train_button)
    qtbot.waitUntil(lambda: bool(jobs_seen) and not c.training, timeout=LONG)
    assert jobs_seen[0]["class_weights"] is True
    assert TrainJob.from_dict(jobs_seen[0]).class_weights

    path = tmp_path / "p.desktop-ft.json"
    c.save_project(str(path), w._job())
    project = load_project(path)
    assert project.job.class_weights is True
    box.setChecked(False)
    c.projectOpened.emit(project)         # what File → Open project… shows first
    assert box.isChecked()


def choose(combo, name):
    """Pick ``name`` in a combo box as a user does (``activated`` follows a click only)."""
    combo.setCurrentIndex(combo.findText(name))
    combo.activated.emit(combo.currentIndex())


def test_a_tables_columns_are_offered_and_reach_the_job(qtbot, window, tmp_path,
                                                        monkeypatch):
    from desktop_ft.core.project import load_project

    w, c, panel = window, window.controller, window.data_panel
    table = tmp_path / "reviews.csv"
    table.write_text("id,sentence_x,verdict_y\n" + "".join(
        f"{i},{'so good' if i % 2 else 'so bad'} {i},{'pos' if i % 2 else 'neg'}\n"
        for i in range(12)))
    drop_path(w, table)
    qtbot.waitUntil(lambda: w.banner.isVisible() and c.tasks.running() == 0, timeout=LONG)
    shown = w.banner.text()
    assert "no text column found" in shown and "Choose the text column under Columns" in shown
    assert not FLAG.search(shown), shown
    assert panel.columns_row.isVisible() and c.scan is None
    assert [panel.text_column.itemText(i) for i in range(panel.text_column.count())] == \
        ["automatic", "id", "sentence_x", "verdict_y"]
    w.banner.hide_error()
    choose(panel.text_column, "sentence_x")
    qtbot.waitUntil(lambda: w.banner.isVisible() and c.tasks.running() == 0, timeout=LONG)
    assert "Choose the label column under Columns" in w.banner.text()
    w.banner.hide_error()
    choose(panel.label_column, "verdict_y")
    qtbot.waitUntil(lambda: c.scan is not None and c.tasks.running() == 0, timeout=LONG)
    assert c.scan.classes == ["neg", "pos"] and not w.banner.isVisible()
    assert panel.text_column.currentText() == "sentence_x"
    # The columns go with the job (a resumed run or a project reads the table again).
    jobs_seen = capture_jobs(monkeypatch)
    click(qtbot, w.train_panel.train_button)
    qtbot.waitUntil(lambda: bool(jobs_seen) and not c.training, timeout=LONG)
    assert (jobs_seen[0]["text_column"], jobs_seen[0]["label_column"]) == \
        ("sentence_x", "verdict_y")
    c.save_project(str(tmp_path / "p.json"), w._job())
    job = load_project(tmp_path / "p.json").job
    assert (job.text_column, job.label_column) == ("sentence_x", "verdict_y")


def test_refusals_in_the_window_name_its_controls_not_flags(qtbot, window, image_folder):
    w, c = window, window.controller
    # Two-phase with a phase 1 as long as the whole run.
    drop_path(w, image_folder)
    qtbot.waitUntil(lambda: c.scan is not None and c.tasks.running() == 0, timeout=LONG)
    w.train_panel.set_options({**w.train_panel.options(), "epochs": 3, "two_phase": True,
                               "phase1_epochs": 5})
    click(qtbot, w.train_panel.train_button)
    qtbot.waitUntil(lambda: w.banner.isVisible(), timeout=LONG)
    shown = w.banner.text()
    assert "Phase 1 (Train tab) must be fewer epochs than Epochs (3)" in shown, shown
    assert not FLAG.search(shown), shown
    assert not c.training


def test_float16_on_a_cpu_names_the_precision_picker(qtbot, window):
    from desktop_ft.core import runtime

    if runtime.gpu_capabilities():
        pytest.skip("mixed float16 is refused on CPUs only")
    w, c = window, window.controller
    w.model_panel.set_spec({**w.model_panel.spec(), "architecture": "vgg16", "weights": "none",
                            "image_size": 32, "precision": "mixed_float16"})
    click(qtbot, w.model_panel.load_button)
    qtbot.waitUntil(lambda: w.banner.isVisible() and not c.loading, timeout=LONG)
    shown = w.banner.text()
    assert "choose Precision auto or float32" in shown, shown
    assert not FLAG.search(shown), shown


def test_another_networks_folder_names_the_network_list(qtbot, window, tmp_path):
    """A preset folder of another network: the window says which to choose under
    Network (the CLI: which --model)."""
    w, c = window, window.controller
    text = tmp_path / "roberta"
    text.mkdir()
    (text / "config.json").write_text('{"model_type": "roberta"}')
    (text / "model.safetensors").write_bytes(b"")
    image = tmp_path / "swin"
    image.mkdir()
    (image / "config.json").write_text('{"model_type": "swin"}')
    for modality, folder, expected in (("bert", text, "Choose RoBERTa under Network."),
                                     ("vit", image, "choose Swin Transformer (keras-hub) "
                                                    "under Network.")):
        w.banner.hide_error()
        w.model_panel.set_spec({**w.model_panel.spec(), "architecture": modality,
                                "preset": str(folder), "weights": "imagenet"})
        click(qtbot, w.model_panel.load_button)
        qtbot.waitUntil(lambda: w.banner.isVisible() and not c.loading, timeout=LONG)
        shown = w.banner.text()
        assert expected in shown and not FLAG.search(shown), shown
