"""Data: scanning a folder or table into classes and splits (:mod:`.scanning`), validation
splits (:mod:`.splits`), decoding images (:mod:`.images`), the training batches
(:mod:`.datasets`, :mod:`.batches`) and the built-in sample dataset (:mod:`.sample_data`).
``desktop_ft.core.data.scan(path)`` is the entry point."""

from desktop_ft.core.data.scanning import (
    DataScan,
    IMAGE_EXTENSIONS,
    IMBALANCE_RATIO,
    LABEL_COLUMN_CANDIDATES,
    ScanCancelled,
    Split,
    TABLE_EXTENSIONS,
    TEXT_COLUMN_CANDIDATES,
    TEXT_EXTENSIONS,
    TINY_CLASS,
    VAL_FOLDER_NAMES,
    decode_text,
    scan,
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
