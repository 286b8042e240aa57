"""Exporting again without retraining: from a run folder's checkpoint, or from an earlier
export's ``model.keras`` (e.g. to add ONNX or LiteRT)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from desktop_ft.core.data.datasets import load_inputs
from desktop_ft.core.errors import UserError
from desktop_ft.core.layer_tree import LayerTree


@dataclass
class ReexportSource:
    path: Path
    bundle: object
    description: str
    samples: list
    info: dict
    representative: list | None = None
    validation: tuple | None = None
    summary: dict = field(default_factory=dict)
    run: object = None

    def after_export(self, record: dict) -> None:
        if self.run is not None:
            self.run.add_export(record["path"])


def source_for_reexport(src: str | os.PathLike, best: bool = False,
                        observer=None) -> ReexportSource:
    path = Path(src).expanduser()
    if (path / "run.json").is_file():
        return _from_run(path, best, observer)
    if (path / "export.json").is_file():
        return _from_export(path)
    raise UserError(f"{path} is neither a desktop-ft run folder (run.json) nor an export "
                    "folder (export.json).")


def _from_run(path: Path, best: bool, observer) -> ReexportSource:
    from desktop_ft.core.training.resume import bundle_from_run
    from desktop_ft.core.training.runs import Run

    run = Run.open(path)
    which = "best" if best else "last"
    bundle = bundle_from_run(run, which, observer)
    state = run.checkpoints.load_state(which)
    kind = bundle.input_kind
    train, val = run.record["split"]["train"], run.record["split"]["val"]
    representative = load_inputs(kind, train["items"][:64]) if train else None
    validation = (load_inputs(kind, val["items"][:200]), val["labels"][:200]) if val else None
    return ReexportSource(
        path=path, bundle=bundle, run=run, description=f"epoch {state['epoch']} ({which}) "
        f"of run {path.name}", samples=representative[:4] if representative else [],
        representative=representative, validation=validation,
        info={"run": str(path), "checkpoint": which, "epoch": state["epoch"],
              "history": run.record["history"], "train_job": run.record["job"]},
        summary={"run": str(path), "checkpoint": which, "epoch": state["epoch"]})


def _from_export(path: Path) -> ReexportSource:
    from desktop_ft.core.explain import load_export_bundle

    meta = json.loads((path / "export.json").read_text())
    bundle = load_export_bundle(path)
    bundle.tree = LayerTree.from_bundle(bundle)
    kept = {k: meta[k] for k in ("strategy", "trainable_params", "frozen_params",
                                 "frozen_layers", "metrics", "history", "train_job", "run",
                                 "weights", "lora_rank", "quantized") if k in meta}
    data = (meta.get("train_job") or {}).get("data")
    samples = []
    if data and Path(data).is_dir() and bundle.input_kind == "images":
        files = sorted(p for p in Path(data).rglob("*") if p.suffix.lower() in
                       (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"))[:4]
        samples = load_inputs("images", [str(f) for f in files])
    return ReexportSource(path=path, bundle=bundle, description=f"the export {path.name}",
                          samples=samples, info={**kept, "reexported_from": str(path)},
                          summary={"reexported_from": str(path)})
