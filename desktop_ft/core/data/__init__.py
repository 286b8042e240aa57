"""Data: scanning a folder or table into classes and splits (:mod:`.scanning`, over
:mod:`.folders`, :mod:`.tables` — its columns :mod:`.table_layout`, its images
:mod:`.image_tables`, several labels per row :mod:`.label_sets` — and :mod:`.file_checks`;
the result :mod:`.scan_result`), validation
splits (:mod:`.splits`), decoding images (:mod:`.images`), the training batches
(:mod:`.datasets`, :mod:`.batches`) and the built-in sample dataset (:mod:`.sample_data`).
``desktop_ft.core.data.scan(path)`` is the entry point."""

from desktop_ft.core.data.file_checks import decode_text
from desktop_ft.core.data.folders import IMAGE_EXTENSIONS, TEXT_EXTENSIONS, VAL_FOLDER_NAMES
from desktop_ft.core.data.scan_result import (
    IMBALANCE_RATIO,
    TINY_CLASS,
    DataScan,
    ScanCancelled,
    Split,
)
from desktop_ft.core.data.scanning import scan
from desktop_ft.core.data.tables import (
    LABEL_COLUMN_CANDIDATES,
    TABLE_EXTENSIONS,
    TEXT_COLUMN_CANDIDATES,
    table_columns,
)

__all__ = [
    "DataScan",
    "IMAGE_EXTENSIONS",
    "IMBALANCE_RATIO",
    "LABEL_COLUMN_CANDIDATES",
    "ScanCancelled",
    "Split",
    "TABLE_EXTENSIONS",
    "TEXT_COLUMN_CANDIDATES",
    "TEXT_EXTENSIONS",
    "TINY_CLASS",
    "VAL_FOLDER_NAMES",
    "decode_text",
    "scan",
    "table_columns",
]
