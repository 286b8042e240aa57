"""After training: the mistakes gallery, confusion-matrix filtering, opening a mistake in
Try it, Grad-CAM and word highlights in Try it, and File → Save report."""

from PySide6.QtCore import QPoint, Qt

from tests.gui.probes import cell_center
from tests.gui.conftest import LONG, click, drop_path, load_model, load_tiny_vgg_with_data, \
    train_and_wait


def test_mistakes_filter_try_explain_and_report(qtbot, window, image_folder, tmp_path):
    w, c = window, window.controller
    load_tiny_vgg_with_data(qtbot, w, image_folder)
    click(qtbot, w.layers_panel.buttons["head"])    # (cheapest: what trains is not tested)
    w.train_panel.lr.setText("1e-7")   # barely trained: it makes mistakes to look at
    result = train_and_wait(qtbot, w, epochs=1, batch_size=8)
    ev = result.evaluation
    wrong = sum(v for i, row in enumerate(ev["confusion_matrix"])
                for j, v in enumerate(row) if i != j)
    view = w.findChild(object, "mistakesView")
    assert wrong > 0 and view.count() == wrong == len(c.mistakes)
    confidences = [m["confidence"] for m in c.mistakes]
    assert confidences == sorted(confidences, reverse=True)

    # Click an off-diagonal confusion-matrix cell: the view shows that cell's examples.
    panel = w.train_panel
    i, j = next((i, j) for i, row in enumerate(ev["confusion_matrix"])
                for j, v in enumerate(row) if i != j and v)
    panel.results.setCurrentIndex(0)
    x, y = cell_center(panel.confusion, i, j)
    qtbot.mouseClick(panel.confusion, Qt.MouseButton.LeftButton, pos=QPoint(int(x), int(y)))
    assert panel.results.currentWidget() is panel.mistakes
    assert view.count() == ev["confusion_matrix"][i][j]
    classes = ev["classes"]
    assert all(m["true"] == classes[i] and m["predicted"] == classes[j]
               for m in panel.mistakes.shown())

    # Click an example: it opens in Try it; "Show why" then explains it with Grad-CAM.
    tryit = w.try_panel
    view.itemClicked.emit(view.item(0))
    assert w.tabs.currentWidget() is tryit
    qtbot.waitUntil(lambda: len(tryit.bars.values) == 3, timeout=LONG)
    assert not tryit.overlay_shown
    click(qtbot, tryit.explain_toggle)
    qtbot.waitUntil(lambda: tryit.overlay_shown, timeout=LONG)
    before = tryit.image.pixmap().toImage()
    tryit.opacity.setValue(95)
    assert tryit.image.pixmap().toImage() != before

    report = tmp_path / "report.html"
    c.save_report(str(report))
    qtbot.waitUntil(lambda: report.exists(), timeout=LONG)
    page = report.read_text()
    assert "Top mistakes" in page and page.count("data:image/png;base64,") >= wrong


def test_word_highlights_in_try_it(qtbot, window, tiny_bert_preset, text_csv):
    w = window
    drop_path(w, text_csv)
    qtbot.waitUntil(lambda: w.controller.scan is not None, timeout=LONG)
    load_model(qtbot, w, architecture="bert", preset=str(tiny_bert_preset), seq_len=16)
    train_and_wait(qtbot, w, epochs=1, batch_size=8)
    tryit = w.try_panel
    w.tabs.setCurrentWidget(tryit)
    assert tryit.explain_toggle.text() == "Show why (word importance)"
    click(qtbot, tryit.explain_toggle)
    tryit.try_text("this is good")
    qtbot.waitUntil(lambda: "<span" in tryit.highlights.text(), timeout=LONG)
    assert ">good<" in tryit.highlights.text() and len(tryit.bars.values) == 2
