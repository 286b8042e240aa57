"""The Train tab's schedule and warm-up reach the training job and the project file, and
the rate of every step is plotted."""

from desktop_ft.core.training import TrainJob
from tests.gui.conftest import LONG, click, drop_path


def test_the_schedule_controls_reach_the_job_and_the_project(qtbot, window, image_folder,
                                                             tmp_path, monkeypatch):
    from desktop_ft.core.errors import UserError
    from desktop_ft.core.project import load_project
    from desktop_ft.gui import worker_functions

    w, c, panel = window, window.controller, window.train_panel
    assert panel.options()["schedule"] is None and panel.options()["warmup"] is None
    drop_path(w, image_folder)
    qtbot.waitUntil(lambda: c.scan is not None and c.tasks.running() == 0, timeout=LONG)
    seen = []

    def fake_fine_tune(job, *args):
        seen.append(job)
        raise UserError("(stopped by the test)")

    monkeypatch.setattr(worker_functions, "fine_tune", fake_fine_tune)
    panel.schedule.setCurrentIndex(panel.schedule.findText("one-cycle"))
    panel.warmup.setValue(0.3)
    click(qtbot, panel.train_button)
    qtbot.waitUntil(lambda: bool(seen) and not c.training, timeout=LONG)
    job = TrainJob.from_dict(seen[0])
    assert (job.schedule, job.warmup) == ("one-cycle", 0.3)

    path = tmp_path / "p.desktop-ft.json"
    c.save_project(str(path), w._job())
    project = load_project(path)
    assert (project.job.schedule, project.job.warmup) == ("one-cycle", 0.3)
    panel.set_options({})
    assert panel.options()["schedule"] is None
    c.projectOpened.emit(project)
    assert panel.options()["schedule"] == "one-cycle" and panel.options()["warmup"] == 0.3


def test_the_rate_of_each_step_is_plotted(qtbot, window):
    panel = window.train_panel
    panel.on_train_begin({"epochs": 2, "steps_per_epoch": 2, "phase": 1})
    for step, lr in enumerate([1e-3, 2e-3, 1.5e-3]):
        panel.on_batch(step // 2, step % 2, {"loss": 0.5, "lr": lr})
    rate = panel.plots.rate
    assert list(rate.y[:rate.n]) == [1e-3, 2e-3, 1.5e-3]
    assert list(rate.x[:rate.n]) == [0.5, 1.0, 1.5]
