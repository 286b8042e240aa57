"""The Train panel's Find… beside the learning rate: the range test runs as a task, its
dialog plots the curve as it comes and marks the suggestion; a click on the curve (and
"Use suggestion") sets the learning-rate field."""

import math

import pytest
from PySide6.QtCore import QPointF, Qt

from tests.gui.conftest import LONG, click, load_tiny_vgg_with_data

pytestmark = pytest.mark.usefixtures("narrow_vgg16")


class FakeClick:
    def __init__(self, pos):
        self._pos = pos

    def scenePos(self):
        return self._pos

    def button(self):
        return Qt.MouseButton.LeftButton


def test_find_plots_and_a_click_sets_the_rate(qtbot, window, image_folder):
    w, c = window, window.controller
    load_tiny_vgg_with_data(qtbot, w, image_folder)
    click(qtbot, w.layers_panel.buttons["head"])
    panel = w.train_panel
    panel.batch_size.setValue(8)
    points = []
    c.lrPoint.connect(lambda lr, loss: points.append(lr))
    with qtbot.waitSignal(c.lrFound, timeout=LONG) as found:
        click(qtbot, panel.find_lr)
    dialog = panel._lr_dialog
    result = found.args[0]
    assert points and len(dialog.lrs) == len(result["curve"]) >= 20
    xs, ys = dialog.curve.getData()
    assert len(xs) == len(result["curve"])
    assert dialog.mark.isVisible()
    assert dialog.mark.value() == pytest.approx(math.log10(result["suggestion"]))

    # A click on the curve at a measured rate sets the field to it.
    pick = dialog.lrs[len(dialog.lrs) // 3]
    view = dialog.plot.getPlotItem().vb
    dialog.resize(600, 400)
    dialog.show()
    qtbot.wait(50)
    scene = view.mapViewToScene(QPointF(math.log10(pick), ys[len(ys) // 3]))
    dialog._on_click(FakeClick(scene))
    assert float(panel.lr.text()) == pytest.approx(pick, rel=1e-2)

    click(qtbot, dialog.use)
    assert float(panel.lr.text()) == pytest.approx(result["suggestion"], rel=1e-2)
