"""GUI fixtures: an isolated QSettings/cache, and a main window that is closed (its
workers stopped and awaited) after each test."""

import pytest
from PySide6.QtCore import Qt

LONG = 180_000


@pytest.fixture(scope="session", autouse=True)
def isolated_settings(tmp_path_factory):
    import os

    from PySide6.QtCore import QSettings

    folder = tmp_path_factory.mktemp("settings")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    for fmt in (QSettings.Format.IniFormat, QSettings.Format.NativeFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(folder))
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(autouse=True)
def own_runs_folder(tmp_path, monkeypatch):
    """Each GUI test starts with no runs (the window offers to resume interrupted ones)."""
    import shutil

    monkeypatch.setenv("DESKTOP_FT_RUNS", str(tmp_path / "runs"))
    yield
    shutil.rmtree(tmp_path / "runs", ignore_errors=True)


def close_window(qtbot, w):
    """Close the window and wait for every worker. pytest-qt's own teardown closes the
    widgets it was given and deletes them later — and a nested event loop may already
    have deleted this one: then only the workers are left to wait for."""
    from shiboken6 import isValid

    from desktop_ft.gui.task_runner import live_workers

    if isValid(w):
        w.close()
        qtbot.waitUntil(lambda: not isValid(w) or not w.isVisible(), timeout=30_000)
    qtbot.waitUntil(lambda: not live_workers(), timeout=30_000)


@pytest.fixture
def window(qtbot):
    from desktop_ft.gui import MainWindow

    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.controller.device != "", timeout=120_000)
    yield w
    close_window(qtbot, w)


def drop_path(widget, path):
    """Send a real QDropEvent carrying a file URL, as a file manager would."""
    from PySide6.QtCore import QMimeData, QPointF, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDropEvent
    from PySide6.QtWidgets import QApplication

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    pos = QPointF(widget.width() / 2, widget.height() / 2)
    enter = QDragEnterEvent(pos.toPoint(), Qt.DropAction.CopyAction, mime,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted()
    drop = QDropEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, drop)
    return drop


def click(qtbot, button):
    assert button.isEnabled(), f"{button.objectName()} is disabled"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def load_model(qtbot, w, **spec):
    """Set the model panel and press Load, as a user does; wait for the model."""
    w.model_panel.set_spec({**w.model_panel.spec(), **spec})
    return press_and_wait(qtbot, w, w.model_panel.load_button, "bundle", "loading")


def press_and_wait(qtbot, w, button, made: str, busy: str):
    """Click ``button``; wait until the controller holds a new ``made`` and is no longer
    ``busy``; return it."""
    before = getattr(w.controller, made)
    click(qtbot, button)
    qtbot.waitUntil(lambda: getattr(w.controller, made) is not before and
                    not getattr(w.controller, busy), timeout=LONG)
    return getattr(w.controller, made)


def load_tiny_vgg(qtbot, w, size=32):
    return load_model(qtbot, w, architecture="vgg16", weights="none", image_size=size)


def load_tiny_vgg_with_data(qtbot, w, folder):
    """A tiny VGG16 whose head has been rebuilt for the dropped folder's 3 classes."""
    load_tiny_vgg(qtbot, w)
    drop_path(w, folder)
    qtbot.waitUntil(lambda: w.controller.scan is not None and
                    w.controller.bundle.num_classes == 3, timeout=LONG)


def train_and_wait(qtbot, w, **options):
    w.train_panel.set_options({**w.train_panel.options(), **options})
    return press_and_wait(qtbot, w, w.train_panel.train_button, "result", "training")


def lora_bert_with_data(qtbot, w, preset, data, rank=2):
    """Drop text data, load the tiny BERT and press LoRA; wait for the adapters."""
    c = w.controller
    drop_path(w, data)
    qtbot.waitUntil(lambda: c.scan is not None, timeout=LONG)
    load_model(qtbot, w, architecture="bert", preset=str(preset), seq_len=16)
    w.layers_panel.lora_rank.setValue(rank)
    click(qtbot, w.layers_panel.buttons["lora"])
    qtbot.waitUntil(lambda: c.bundle.tree.has_lora and c.tasks.running() == 0, timeout=LONG)
    return c.bundle


@pytest.fixture
def panel_and_session(qtbot, tmp_path):
    """A Try it panel bound to a fresh session (no window), with its own settings file."""
    from PySide6.QtCore import QSettings

    from desktop_ft.gui.controller import SessionController
    from desktop_ft.gui.panels.try_export_panel import TryExportPanel
    from desktop_ft.gui.settings import AppSettings

    session = SessionController()
    panel = TryExportPanel(AppSettings(QSettings(str(tmp_path / "s.ini"),
                                                 QSettings.Format.IniFormat)))
    qtbot.addWidget(panel)
    panel.bind(session)
    panel.resize(700, 400)
    panel.show()
    return panel, session
