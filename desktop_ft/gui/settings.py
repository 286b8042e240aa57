"""What the window remembers between sessions: recent data, the last folder used for each
kind of file dialog, the window's geometry, the backend and the runs retention cap."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

MAX_RECENT = 8


class AppSettings:
    def __init__(self, settings: QSettings | None = None):
        self._s = settings or QSettings("desktop_ft", "desktop-ft")

    def recent_data(self) -> list[str]:
        recent = self._s.value("data/recent", []) or []
        return [recent] if isinstance(recent, str) else list(recent)

    def remember_data(self, path: str) -> None:
        recent = [path] + [p for p in self.recent_data() if p != path]
        self._s.setValue("data/recent", recent[:MAX_RECENT])
        self.remember_dir("data", str(Path(path).parent))

    def last_dir(self, kind: str) -> str:
        """The folder a ``kind`` dialog last opened in (the home folder at first). Each
        kind of file — data, weights, preset, project, export, try — has its own."""
        value = self._s.value(f"dialogs/{kind}", "")
        return value if value and Path(value).is_dir() else str(Path.home())

    def remember_dir(self, kind: str, path: str) -> None:
        p = Path(path)
        self._s.setValue(f"dialogs/{kind}", str(p if p.is_dir() else p.parent))

    def restore_geometry(self, window) -> None:
        geometry = self._s.value("window/geometry")
        if geometry is not None:
            window.restoreGeometry(geometry)

    def save_geometry(self, window) -> None:
        self._s.setValue("window/geometry", window.saveGeometry())

    def backend(self) -> str | None:
        """The Keras backend chosen in Settings (None: the default)."""
        value = self._s.value("compute/backend", "") or ""
        return str(value) or None

    def set_backend(self, name: str) -> None:
        self._s.setValue("compute/backend", name)

    def keep_runs(self) -> int:
        """Finished runs kept when a run ends (0: every run is kept)."""
        from desktop_ft.core.training.retention import DEFAULT_KEEP

        return _number(self._s.value("runs/keep", DEFAULT_KEEP), int, DEFAULT_KEEP)

    def max_runs_gb(self) -> float:
        """The runs folder's size cap in GB (0: no size cap)."""
        from desktop_ft.core.training.retention import DEFAULT_MAX_GB

        return _number(self._s.value("runs/max_gb", DEFAULT_MAX_GB), float, DEFAULT_MAX_GB)

    def set_retention(self, keep: int, max_gb: float) -> None:
        self._s.setValue("runs/keep", int(keep))
        self._s.setValue("runs/max_gb", float(max_gb))

    def retention(self) -> dict:
        """The cap as TrainJob fields, for the train job."""
        return {"keep_runs": self.keep_runs(), "max_runs_gb": self.max_runs_gb()}


def _number(value, kind, default):
    """QSettings' INI files give strings back; a bad or negative value is the default."""
    try:
        number = kind(value)
    except (TypeError, ValueError):
        return default
    return number if number >= 0 else default


def choose_backend(settings: AppSettings) -> str:
    """Fix the process's Keras backend before anything imports Keras: ``KERAS_BACKEND``
    in the environment wins, then the Settings choice, then TensorFlow. Returns a note
    for the status bar when the choice could not be honoured (empty otherwise)."""
    import os

    from desktop_ft.core import backend
    from desktop_ft.core.errors import UserError

    chosen = None if os.environ.get("KERAS_BACKEND") else settings.backend()
    try:
        backend.select(chosen)
        return ""
    except UserError as e:
        if chosen is None:
            raise
        os.environ.pop("KERAS_BACKEND", None)
        fallback = backend.select(None)
        return f"{e} Using {fallback}."
