"""Project files: a JSON record of a setup (model, weights, tree state, data,
hyperparameters) that the app saves and ``desktop-ft train --project FILE`` replays."""

from __future__ import annotations

import json
import os
from pathlib import Path

from desktop_ft.core.errors import UserError

PROJECT_VERSION = 1


def save_project(path: str | os.PathLike, job_dict: dict, tree_states: dict | None) -> None:
    """Write atomically (a crash mid-write leaves the previous file intact)."""
    path = Path(path)
    record = {"desktop_ft_project": PROJECT_VERSION, "job": job_dict, "tree": tree_states}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=2))
    os.replace(tmp, path)


def load_project(path: str | os.PathLike) -> dict:
    """Return ``{"job": {...}, "tree": {path: [flags]} | None}``; paths in the job are
    resolved relative to the project file."""
    path = Path(path).expanduser()
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"Project file {path} does not exist.") from None
    except (OSError, ValueError) as e:
        raise UserError(f"{path} is not a desktop-ft project ({e}).") from None
    if not isinstance(record, dict) or "desktop_ft_project" not in record:
        raise UserError(f"{path} is not a desktop-ft project (no 'desktop_ft_project' key).")
    job = dict(record.get("job") or {})
    for key in ("data", "val_data"):
        if job.get(key) and not os.path.isabs(job[key]):
            job[key] = str((path.parent / job[key]).resolve())
    model = dict(job.get("model") or {})
    for key in ("weights", "preset"):
        value = model.get(key)
        if value and (path.parent / value).exists() and not os.path.isabs(value):
            model[key] = str((path.parent / value).resolve())
    job["model"] = model
    return {"job": job, "tree": record.get("tree")}
