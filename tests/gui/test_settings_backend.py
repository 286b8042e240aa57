"""File → Settings… chooses the Keras backend for the next start; start-up honours it
(KERAS_BACKEND in the environment wins) and says when it cannot."""

import pytest
from PySide6.QtCore import QSettings

from desktop_ft.core import backend
from desktop_ft.gui.settings import AppSettings, choose_backend


@pytest.fixture
def settings(tmp_path):
    return AppSettings(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))


@pytest.fixture
def before_keras(monkeypatch):
    """As at start-up: Keras not imported yet, no KERAS_BACKEND (restored afterwards)."""
    monkeypatch.setattr(backend, "active", lambda: None)
    monkeypatch.setenv("KERAS_BACKEND", "unset")
    monkeypatch.delenv("KERAS_BACKEND")


def test_start_up_uses_the_saved_backend(settings, before_keras, monkeypatch):
    import os

    monkeypatch.setattr(backend, "installed", lambda name: True)
    settings.set_backend("jax")
    assert choose_backend(settings) == ""
    assert os.environ["KERAS_BACKEND"] == "jax"


def test_environment_wins_over_settings(settings, before_keras, monkeypatch):
    import os

    monkeypatch.setattr(backend, "installed", lambda name: True)
    monkeypatch.setenv("KERAS_BACKEND", "torch")
    settings.set_backend("jax")
    assert choose_backend(settings) == ""
    assert os.environ["KERAS_BACKEND"] == "torch"


def test_saved_backend_missing_falls_back_with_a_note(settings, before_keras, monkeypatch):
    import os

    monkeypatch.setattr(backend, "installed", lambda name: name != "torch")
    settings.set_backend("torch")
    note = choose_backend(settings)
    assert "torch backend is not installed" in note and 'desktop-ft[torch]' in note
    assert note.endswith("Using tensorflow.")
    assert os.environ["KERAS_BACKEND"] == "tensorflow"


def test_settings_dialog_saves_the_choice_for_the_next_start(qtbot, settings):
    from desktop_ft.gui.settings_dialog import SettingsDialog

    dialog = SettingsDialog(settings=settings)
    qtbot.addWidget(dialog)
    box = dialog.backend_box
    assert [box.itemData(i) for i in range(box.count())] == list(backend.BACKENDS)
    box.setCurrentIndex(backend.BACKENDS.index("jax"))
    assert "takes effect after a restart" in dialog.note.text()
    if backend.active() != "jax":
        assert "Restart desktop-ft to train on jax" in dialog.note.text()
    dialog.accept()
    assert settings.backend() == "jax"
    assert AppSettings(settings._s).backend() == "jax"


def test_settings_menu_saves_the_choice_and_says_restart(qtbot, window):
    from PySide6.QtCore import QTimer
    from PySide6.QtGui import QAction
    from PySide6.QtWidgets import QApplication

    from desktop_ft.gui.settings_dialog import SettingsDialog

    assert window.device_label.text() == f"Compute: {backend.name()} · CPU"
    seen = []

    def choose_jax():
        dialog = next(w for w in QApplication.topLevelWidgets()
                      if isinstance(w, SettingsDialog) and w.isVisible())
        seen.append(dialog)
        dialog.backend_box.setCurrentIndex(backend.BACKENDS.index("jax"))
        dialog.accept()

    QTimer.singleShot(200, choose_jax)
    window.findChild(QAction, "actionSettings").trigger()     # modal until accepted
    assert seen
    assert AppSettings().backend() == "jax"
    assert "jax backend will be used when desktop-ft restarts" in \
        window.statusBar().currentMessage()
    AppSettings().set_backend("tensorflow")
