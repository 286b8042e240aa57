"""The window's panels, one per file, each with a small public API and Qt signals:
model, layers, data, train (options, progress, plots, results), try-and-export."""

from desktop_ft.gui.panels.data_panel import DataPanel
from desktop_ft.gui.panels.layers_panel import LayersPanel
from desktop_ft.gui.panels.model_panel import ModelPanel
from desktop_ft.gui.panels.train_panel import TrainPanel
from desktop_ft.gui.panels.try_export_panel import TryExportPanel

__all__ = ["DataPanel", "LayersPanel", "ModelPanel", "TrainPanel", "TryExportPanel"]
