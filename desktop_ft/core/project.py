"""Project files: a JSON record of a setup — model, weights, the layer tree's state, data,
hyperparameters — that the window saves and opens and ``desktop-ft train --project FILE``
replays. Both go through :func:`replay`, so a project means the same thing to each.

Schema (version 1)::

    {"desktop_ft_project": 1,
     "job":  {TrainJob fields; "model": {ModelSpec fields}},
     "peft": {"strategy": "lora" | "qlora", "lora_rank": N} | null,
     "tree": {"<layer path>": [trainable flag per variable], ...} | null,
     "unknown_below": P | null}        (optional: answer "unknown" below this confidence)

Paths in the job (data, weights, preset) may be relative to the project file.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import types
import typing
from dataclasses import dataclass
from pathlib import Path

from desktop_ft.core import atomic
from desktop_ft.core.errors import UserError
from desktop_ft.core.observer import Observer
from desktop_ft.core.training import TrainJob, peft_strategy_of, prepare, prepare_model

PROJECT_VERSION = 1


@dataclass
class Project:
    job: TrainJob
    tree: dict | None = None          # per-leaf trainable flags, by path
    peft: dict | None = None          # {"strategy": "lora"|"qlora", "lora_rank": N}
    # The trained model answers "unknown" when its top probability is below this.
    unknown_below: float | None = None

    def to_dict(self) -> dict:
        return {"desktop_ft_project": PROJECT_VERSION, "job": self.job.to_dict(),
                "peft": self.peft, "tree": self.tree, "unknown_below": self.unknown_below}


def project_from_session(job: TrainJob, bundle=None,
                         unknown_below: float | None = None) -> Project:
    """What the window saves: its job, the loaded model's tree and LoRA state, and the
    confidence below which Try it answers "unknown"."""
    if bundle is None:
        return Project(job, unknown_below=unknown_below)
    strategy = peft_strategy_of(bundle)
    peft = {"strategy": strategy, "lora_rank": bundle.peft()["lora_rank"]} if strategy \
        else None
    return Project(job, tree=bundle.tree.states(), peft=peft, unknown_below=unknown_below)


def save_project(path: str | os.PathLike, project: Project) -> None:
    """Write atomically (a crash mid-write leaves the previous file intact)."""
    atomic.write_text(Path(path), json.dumps(project.to_dict(), indent=2))


def load_project(path: str | os.PathLike) -> Project:
    """Read and check a project file; paths in the job are resolved relative to it."""
    path = Path(path).expanduser()
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"Project file {path} does not exist.") from None
    except (OSError, ValueError) as e:
        raise UserError(f"{path} is not a desktop-ft project ({e}).") from None
    if not isinstance(record, dict) or "desktop_ft_project" not in record:
        raise UserError(f"{path} is not a desktop-ft project (no 'desktop_ft_project' key).")
    if record["desktop_ft_project"] != PROJECT_VERSION:
        raise UserError(f"{path} is a version {record['desktop_ft_project']} project; this "
                        f"desktop-ft reads version {PROJECT_VERSION}.")
    job = record.get("job")
    if isinstance(job, dict) and isinstance(job.get("model"), dict):
        from desktop_ft.core.models import ModelSpec   # a file from before "architecture"
        record["job"] = {**job, "model": ModelSpec.upgrade_dict(job["model"])}
    _check_record(path, record)
    job = dict(record.get("job") or {})
    for key in ("data", "val_data"):
        if job.get(key) and not os.path.isabs(job[key]):
            job[key] = str((path.parent / job[key]).resolve())
    model = dict(job.get("model") or {})
    for key in ("weights", "preset"):
        value = model.get(key)
        if value and not os.path.isabs(value) and (path.parent / value).exists():
            model[key] = str((path.parent / value).resolve())
    job["model"] = model
    peft = record.get("peft")
    if peft is not None and peft.get("strategy") not in ("lora", "qlora"):
        raise UserError(f"{path}: unknown peft strategy {peft.get('strategy')!r}.")
    try:
        return Project(TrainJob.from_dict(job), tree=record.get("tree"), peft=peft,
                       unknown_below=record.get("unknown_below"))
    except UserError as e:
        raise UserError(f"{path}: {e}") from None


def _check_record(path: Path, record: dict) -> None:
    """Every key known and every value of the right type — a misspelt key would
    otherwise be ignored and its setting silently lost."""
    from desktop_ft.core.models import ModelSpec

    _check_fields(path, "", record, {"desktop_ft_project": int, "job": dict,
                                     "peft": dict | None, "tree": dict | None,
                                     "unknown_below": float | None})
    unknown = record.get("unknown_below")
    if unknown is not None and not 0 <= unknown <= 1:
        raise UserError(f"{path}: unknown_below must be a probability from 0 to 1, got "
                        f"{unknown!r}.")
    job = record.get("job") or {}
    _check_fields(path, "job.", job, typing.get_type_hints(TrainJob))
    _check_fields(path, "job.model.", job.get("model") or {},
                  typing.get_type_hints(ModelSpec))
    for leaf, flags in (record.get("tree") or {}).items():
        if not (isinstance(flags, list) and all(isinstance(f, bool) for f in flags)):
            raise UserError(f"{path}: tree[{leaf!r}] must be a list of true/false flags.")


def _check_fields(path: Path, where: str, d: dict, hints: dict) -> None:
    for key, value in d.items():
        if key not in hints:
            raise UserError(f"{path}: unknown key {where}{key} (known: "
                            f"{', '.join(sorted(hints))}).")
        if not _fits(value, hints[key]):
            raise UserError(f"{path}: {where}{key} must be {_describe(hints[key])}, got "
                            f"{value!r}.")


def _fits(value, hint) -> bool:
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    for option in options:
        origin = typing.get_origin(option) or option
        if option is type(None) and value is None:
            return True
        if origin is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return True
        if origin is int and isinstance(value, int) and not isinstance(value, bool):
            return True
        if origin in (str, bool, list, dict) and isinstance(value, origin):
            return True
        if dataclasses.is_dataclass(origin) and isinstance(value, dict):
            return True
    return False


def _describe(hint) -> str:
    names = {int: "a whole number", float: "a number", bool: "true or false",
             str: "a string", list: "a list", dict: "an object", type(None): "null"}
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    return " or ".join(names.get(typing.get_origin(o) or o, "an object") for o in options)


def replay(project: Project, observer: Observer | None = None,
           stop: threading.Event | None = None, scan=None):
    """Scan the project's data, load its model, redo LoRA/int8 and set the tree as saved.
    Returns ``(bundle, scan)``, ready for ``fine_tune(job, bundle=…, scan=…)`` with
    ``job.strategy=None``."""
    bundle, scan = prepare(project.job, observer, stop, scan=scan)
    if project.peft:
        bundle = prepare_model(bundle, project.peft["strategy"],
                               int(project.peft.get("lora_rank") or project.job.lora_rank),
                               observer, stop)
    if project.tree:
        bundle.tree.set_states(project.tree)
    return bundle, scan
