"""BERT from keras-hub for text (see :mod:`.family`)."""

from desktop_ft.core.models.bert.build import describe_source
from desktop_ft.core.models.bert.family import FAMILY, PRESETS, BertFamily

__all__ = ["FAMILY", "PRESETS", "BertFamily", "describe_source"]
