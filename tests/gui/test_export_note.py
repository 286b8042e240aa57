"""The Export panel says which formats an export left out, why, and how to add them
(a text SavedModel where tensorflow-text is missing, as on Windows)."""

from PySide6.QtCore import QSettings


def test_export_panel_says_what_was_left_out(qtbot, tmp_path):
    from desktop_ft.gui.panels.try_export_panel import TryExportPanel
    from desktop_ft.gui.settings import AppSettings

    ini = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    panel = TryExportPanel(AppSettings(ini))
    qtbot.addWidget(panel)
    why = ("the text SavedModel's tokenizer needs tensorflow-text, which is not installed; "
           "it has no Windows wheel (Linux x86_64 and macOS arm64 have one)")
    panel.show_export({"path": "/data/out", "formats_written": ["keras", "onnx"],
                       "formats": {"onnx": {"parity_max_abs_diff": 1e-7}},
                       "formats_not_written": {"saved_model": why}})
    text = panel.export_label.text()
    assert "Exported to <b>/data/out</b> (keras, onnx)" in text and "ONNX 1.0e-07" in text
    assert "Not written — SavedModel: the text SavedModel&#x27;s tokenizer needs " \
           "tensorflow-text, which is not installed" in text
    assert "desktop-ft export /data/out NEW_OUT --formats keras,saved_model" in text
    panel.show_export({"path": "/data/out", "formats_written": ["saved_model", "keras"],
                       "parity_max_abs_diff": 1e-8})
    assert "Not written" not in panel.export_label.text()
