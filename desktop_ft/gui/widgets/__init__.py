"""Reusable widgets: the message banner, live training plots and result views."""

from desktop_ft.gui.widgets.banner import ErrorBanner
from desktop_ft.gui.widgets.mistakes import MistakesView
from desktop_ft.gui.widgets.plots import TrainingPlots
from desktop_ft.gui.widgets.views import ConfusionMatrixView, ImageDropLabel, ProbabilityBars

__all__ = ["ConfusionMatrixView", "ErrorBanner", "ImageDropLabel", "MistakesView",
           "ProbabilityBars", "TrainingPlots"]
