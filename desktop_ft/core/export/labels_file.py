"""``OUT/labels.json``: the class names in output order — for a single-label model a plain
JSON list, as always; for a multi-label model an object that also holds each label's
threshold (a label is answered when its probability reaches it)::

    ["cat", "dog"]
    {"labels": ["billing", "delivery"], "thresholds": [0.41, 0.62], "multi_label": true}

:func:`read_labels` accepts both (and a missing file: the names in ``export.json``).

Example:
    >>> from desktop_ft.core.models.decision import Decision
    >>> labels_record(["a", "b"], Decision(multi_label=True, thresholds=[0.3, 0.7]))
    {'labels': ['a', 'b'], 'thresholds': [0.3, 0.7], 'multi_label': True}
    >>> labels_record(["a", "b"], Decision())
    ['a', 'b']
"""

from __future__ import annotations

import json
from pathlib import Path

from desktop_ft.core.errors import UserError


def labels_record(labels: list[str], decision) -> list | dict:
    """What ``labels.json`` holds for ``labels`` and the model's decision."""
    if not decision.multi_label:
        return list(labels)
    return {"labels": list(labels), "thresholds": decision.label_thresholds(len(labels)),
            "multi_label": True}


def read_labels(folder: str | Path, meta: dict | None = None) -> tuple[list[str], list | None]:
    """(label names in output order, per-label thresholds or None) of an export folder:
    its ``labels.json`` in either layout, else the classes ``export.json`` (``meta``)
    names and the thresholds of its decision."""
    path = Path(folder) / "labels.json"
    meta = meta or {}
    if not path.exists():
        thresholds = (meta.get("decision") or {}).get("thresholds")
        return list(meta.get("classes", [])), thresholds
    try:
        record = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as e:
        raise UserError(f"{path} cannot be read as JSON ({e}).") from None
    if isinstance(record, list) and all(isinstance(c, str) for c in record):
        return record, None
    if isinstance(record, dict) and isinstance(record.get("labels"), list):
        labels, thresholds = [str(c) for c in record["labels"]], record.get("thresholds")
        if thresholds is not None and len(thresholds) != len(labels):
            raise UserError(f"{path}: {len(thresholds)} thresholds for {len(labels)} labels.")
        return labels, None if thresholds is None else [float(t) for t in thresholds]
    raise UserError(f"{path} is neither a list of class names nor "
                    '{"labels": [...], "thresholds": [...]}.')
