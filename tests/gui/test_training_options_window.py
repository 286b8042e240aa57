"""The Train tab's Advanced group (optimizer, weight decay, label smoothing, seed,
validation data) and the model panel's augmentation strength reach the job the window
trains, the project file keeps them and a reopened project shows them; a validation
folder chosen in the window is what training validates on."""

from __future__ import annotations

import pytest

from desktop_ft.core.errors import UserError
from desktop_ft.core.training import TrainJob
from tests.conftest import write_image_folder
from tests.gui.conftest import (LONG, click, drop_path, load_tiny_vgg,
                                load_tiny_vgg_with_data)
from tests.gui.test_window_wording import FLAG, capture_jobs

ADVANCED = {"optimizer": "sgd", "weight_decay": 0.001, "label_smoothing": 0.1, "seed": 7}


def set_advanced(panel, val_folder):
    a = panel.advanced
    a.optimizer.setCurrentIndex(a.optimizer.findText("sgd"))
    a.weight_decay.setText("0.001")
    a.label_smoothing.setValue(0.1)
    a.seed.setValue(7)
    drop_path(a.val_data, val_folder)       # dropped on the field, as from a file manager


def test_the_advanced_controls_reach_the_job_and_the_project(qtbot, window, image_folder,
                                                             tmp_path, monkeypatch):
    from desktop_ft.core.project import load_project

    w, c, panel = window, window.controller, window.train_panel
    assert {k: panel.options()[k] for k in ("optimizer", "weight_decay", "label_smoothing",
                                            "seed", "val_data")} == {
        "optimizer": None, "weight_decay": None, "label_smoothing": 0.0, "seed": 0,
        "val_data": None}
    val_folder = write_image_folder(tmp_path / "val", per_class=2, seed=3)
    drop_path(w, image_folder)
    qtbot.waitUntil(lambda: c.scan is not None and c.tasks.running() == 0, timeout=LONG)
    set_advanced(panel, val_folder)
    w.model_panel.augment_strength.setValue(1.5)
    jobs = capture_jobs(monkeypatch)
    click(qtbot, panel.train_button)
    qtbot.waitUntil(lambda: bool(jobs) and not c.training, timeout=LONG)
    job = TrainJob.from_dict(jobs[0])
    assert {k: getattr(job, k) for k in ADVANCED} == ADVANCED
    assert job.val_data == str(val_folder)
    assert w._job()["model"]["augment_strength"] == 1.5

    path = tmp_path / "p.desktop-ft.json"
    c.save_project(str(path), w._job())
    project = load_project(path)
    assert {k: getattr(project.job, k) for k in ADVANCED} == ADVANCED
    assert project.job.val_data == str(val_folder)
    assert project.job.model.augment_strength == 1.5
    panel.set_options({})
    w.model_panel.augment_strength.setValue(1.0)
    assert panel.options()["optimizer"] is None and panel.options()["val_data"] is None
    c.projectOpened.emit(project)         # what File → Open project… shows first
    shown = panel.options()
    assert {k: shown[k] for k in ADVANCED} == ADVANCED and shown["val_data"] == \
        str(val_folder)
    assert panel.advanced.weight_decay.text() == "0.001"
    assert w.model_panel.augment_strength.value() == 1.5


def test_the_validation_folder_is_what_training_validates_on(qtbot, window, image_folder,
                                                           tmp_path, monkeypatch):
    from desktop_ft.core import data
    from desktop_ft.core.data import splits

    w, c = window, window.controller
    val_folder = write_image_folder(tmp_path / "val", per_class=2, seed=3)
    load_tiny_vgg_with_data(qtbot, w, image_folder)
    w.train_panel.advanced.val_data.setText(str(val_folder))
    seen = []

    def split_seen(scan, *args):       # the split training asks for, then stop
        seen.append(scan)
        raise UserError("(stopped by the test)")

    monkeypatch.setattr(splits, "split_validation", split_seen)
    click(qtbot, w.train_panel.train_button)
    qtbot.waitUntil(lambda: bool(seen) and not c.training, timeout=LONG)
    assert sorted(seen[0].val.items) == sorted(data.scan(str(val_folder)).train.items)
    assert len(seen[0].train) == len(c.scan.train)
    assert c.scan.val is None              # the session's scan is left as it was read


@pytest.mark.parametrize("setup, said", [
    (lambda a: a.weight_decay.setText("lots"), "Weight decay 'lots' must be 0 or"),
    (lambda a: a.val_data.setText("/no/such/folder"), "The validation data /no/such/folder "
                                                      "does not exist"),
])
def test_bad_advanced_values_are_said_in_the_windows_words(qtbot, window, setup, said):
    w = window
    setup(w.train_panel.advanced)
    with pytest.raises(UserError) as e:
        w._job()
    assert said in e.value.window_message and not FLAG.search(e.value.window_message)


def test_adam_leaves_no_weight_decay_to_set(qtbot, window):
    a = window.train_panel.advanced
    a.weight_decay.setText("0.01")
    a.optimizer.setCurrentIndex(a.optimizer.findText("adam"))
    assert not a.weight_decay.isEnabled() and "choose AdamW" in a.weight_decay.toolTip()
    assert a.options()["weight_decay"] is None
    a.optimizer.setCurrentIndex(a.optimizer.findText("adamw"))
    assert a.options()["weight_decay"] == 0.01


def test_an_opened_projects_data_is_held_without_its_validation_data(image_folder,
                                                                    tmp_path):
    """The session keeps the data alone (the Advanced field decides what validates), so
    a validation folder cleared after opening a project is no longer used."""
    from desktop_ft.core.models import ModelSpec
    from desktop_ft.core.project import Project
    from desktop_ft.gui.worker_functions import replay_project

    val_folder = write_image_folder(tmp_path / "val", per_class=2, seed=3)
    job = TrainJob(model=ModelSpec("vgg16", weights="none", image_size=32),
                   data=str(image_folder), val_data=str(val_folder), strategy=None)
    bundle, scan, *_ = replay_project(Project(job), None, None)
    assert scan.val is None and bundle.num_classes == 3


def test_a_new_augmentation_strength_asks_for_a_reload(qtbot, window):
    """The strength is built into the model's augmentation layers, as the boxes are."""
    panel = window.model_panel
    load_tiny_vgg(qtbot, window)
    panel.augment_strength.setValue(2.0)
    assert panel.load_button.text() == "Load model — settings changed"
    panel.augment_strength.setValue(1.0)
    assert panel.load_button.text() == "Load model"


def test_validation_data_set_under_advanced_turns_off_the_data_tabs_split(qtbot, window,
                                                                         image_folder,
                                                                         tmp_path):
    w, c = window, window.controller
    box = w.data_panel.val_split_box
    drop_path(w, image_folder)
    qtbot.waitUntil(lambda: c.scan is not None and c.tasks.running() == 0, timeout=LONG)
    assert box.isEnabled()
    w.train_panel.advanced.val_data.setText(str(tmp_path))
    assert not box.isEnabled() and "under Advanced on the Train tab" in box.toolTip()
    click(qtbot, w.train_panel.advanced.findChild(type(w.train_panel.train_button),
                                                  "valClear"))
    assert box.isEnabled() and box.toolTip() == ""
