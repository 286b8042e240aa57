"""The Data tab with several labels per row (issue 32, point 7): the rows with their
labels, the labels' counts and facts; a single-label scan hides them again."""

import threading

import pytest
from PySide6.QtCore import Qt
from PIL import Image


@pytest.fixture
def data_panel(qtbot, tmp_path):
    from PySide6.QtCore import QSettings

    from desktop_ft.gui.panels.data_panel import DataPanel
    from desktop_ft.gui.settings import AppSettings

    panel = DataPanel(AppSettings(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)))
    qtbot.addWidget(panel)
    panel.show()
    return panel


def _scan(path):
    """What the window's scan worker hands the panel."""
    from desktop_ft.gui.worker_functions import scan_data

    out = scan_data(str(path), threading.Event())
    return out["scan"], out["samples"]


def test_data_tab_shows_label_sets_and_their_facts(data_panel, tmp_path):
    path = tmp_path / "tickets.csv"
    rows = ["text,labels", "charged twice,billing;refund", "late parcel,delivery",
            "late and charged,billing|delivery", "all good,", "wrong invoice,billing"]
    path.write_text("\n".join(rows) + "\n")
    scan, samples = _scan(path)
    # Samples per label: every row that holds it.
    assert samples["billing"] == ["charged twice", "late and charged", "wrong invoice"]
    data_panel.show_scan(scan, samples)
    table = data_panel.class_table
    assert table.horizontalHeaderItem(0).text() == "Label"
    assert [(table.item(r, 0).text(), table.item(r, 1).text()) for r in range(3)] == \
        [("billing", "3"), ("delivery", "2"), ("refund", "1")]
    view = data_panel.label_sets
    assert view.isVisible()
    shown = [(view.rows.item(r, 0).text(), view.rows.item(r, 1).text())
             for r in range(view.rows.rowCount())]
    assert shown == [("charged twice", "billing; refund"), ("late parcel", "delivery"),
                     ("late and charged", "billing; delivery"), ("all good", "(no label)"),
                     ("wrong invoice", "billing")]
    facts = view.facts.text()
    assert "1.2 labels per row" in facts and "1 row(s) with no label" in facts
    assert "Too rare to learn (fewer than 5 rows): billing, delivery, refund" in facts
    assert "billing + delivery (1)" in facts and "billing + refund (1)" in facts
    assert "multi-label" in data_panel.title.text()

    single = tmp_path / "one.csv"
    single.write_text("text,label\nfine,pos\nbad,neg\n")
    data_panel.show_scan(*_scan(single))
    assert not view.isVisible() and view.rows.rowCount() == 0
    assert data_panel.class_table.horizontalHeaderItem(0).text() == "Class"


def test_image_table_rows_show_file_names_and_thumbnails(data_panel, tmp_path):
    for name, color in (("a.png", (255, 0, 0)), ("b.png", (0, 0, 255))):
        Image.new("RGB", (16, 16), color).save(tmp_path / name)
    path = tmp_path / "photos.csv"
    path.write_text("image,cat,dog\na.png,1,1\nb.png,0,1\nmissing.png,1,0\n")
    scan, samples = _scan(path)
    data_panel.show_scan(scan, samples)
    assert len(samples["dog"]) == 2 and not samples["dog"][0].isNull()    # thumbnails
    view = data_panel.label_sets
    assert [view.rows.item(r, 1).text() for r in range(2)] == ["cat; dog", "dog"]
    assert view.rows.item(0, 0).text() == "a.png"
    assert data_panel.skipped.item(0).text().endswith("missing.png — no such image file")


def test_the_session_records_that_its_table_was_read_as_multi_label(qtbot, tmp_path):
    """The job the window trains and saves in a project reads the table the same way."""
    from desktop_ft.core.training import TrainJob
    from desktop_ft.gui.controller import SessionController

    session = SessionController()
    path = tmp_path / "t.csv"
    path.write_text("text,labels\na b,x;y\nc d,y\n")
    session.set_scan(*_scan(path)[:1], (None, None), {})
    assert session.data_fields()["multi_label"] is True
    assert TrainJob.from_dict({**session.data_fields()}).multi_label is True
    path.write_text("text,label\na b,x\nc d,y\n")
    session.set_scan(*_scan(path)[:1], (None, None), {})
    assert session.data_fields()["multi_label"] is False


def test_several_labels_per_row_can_be_asked_for(qtbot, data_panel, tmp_path):
    """A table whose rows each name one label is read as multi-label when the box is
    ticked; a table with several labels in a cell shows the box ticked and fixed."""
    from desktop_ft.gui.worker_functions import scan_data

    path = tmp_path / "one.csv"
    path.write_text("text,label\nfine,pos\nbad,neg\n")
    box = data_panel.multi_label_box
    data_panel.show_columns(str(path), ["text", "label"], (None, None))
    data_panel.show_scan(*_scan(path))
    assert box.isEnabled() and not box.isChecked()
    with qtbot.waitSignal(data_panel.columnsChosen) as chosen:
        qtbot.mouseClick(box, Qt.MouseButton.LeftButton)
    assert chosen.args == [str(path), "", "", True]
    scanned = scan_data(str(path), threading.Event(), (None, None, True))
    assert scanned["scan"].multi_label and scanned["scan"].train.labels == [(1,), (0,)]
    data_panel.show_columns(str(path), ["text", "label"], scanned["columns"])
    data_panel.show_scan(scanned["scan"], scanned["samples"])
    assert box.isChecked() and box.isEnabled() and data_panel.label_sets.isVisible()

    several = tmp_path / "several.csv"
    several.write_text("text,labels\na,x;y\nb,y\n")
    data_panel.show_columns(str(several), ["text", "labels"], (None, None))
    data_panel.show_scan(*_scan(several))
    assert box.isChecked() and not box.isEnabled()
