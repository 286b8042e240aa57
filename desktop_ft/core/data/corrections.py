"""Decisions about suspect labels, kept in a corrections file that every scan applies.

A correction names one example — an image or text file by its path, or a table row by its
text — and says Relabel (to ``label``), Exclude or Keep. The user's folder is left as it
is: the scan relabels or leaves out the examples as it lists them. A correction whose
file is gone is listed as a warning, never fatal. Only :func:`apply_to_folder` moves files
(after the window asked); it writes an undo record that :func:`undo_apply` reverses
exactly.

The file (JSON)::

    {"version": 1, "corrections": [
        {"item": "cats/003.png", "given": "cats", "decision": "relabel", "label": "dogs"},
        {"item": "cats/017.png", "given": "cats", "decision": "exclude"},
        {"item": "cats/020.png", "given": "cats", "decision": "keep"}]}

A relative ``item`` is relative to the data's folder (its scan root).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from desktop_ft.core.atomic import write_text as write_text_atomic
from desktop_ft.core.errors import UserError

DECISIONS = ("relabel", "exclude", "keep")
# Excluded files go here by "Apply to folder…": a dot folder, which scans skip.
EXCLUDED_FOLDER = ".excluded"


def load_corrections(path: str | os.PathLike | None) -> list[dict]:
    """The corrections in ``path`` ([] when there is no such file yet)."""
    if not path or not Path(path).exists():
        return []
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UserError(f"{path} is not a corrections file ({e}).") from None
    entries = data.get("corrections") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise UserError(f"{path} is not a corrections file: it has no 'corrections' list.")
    for c in entries:
        if not isinstance(c, dict) or c.get("decision") not in DECISIONS or "item" not in c:
            raise UserError(f"{path}: a correction needs an item and a decision "
                            f"({', '.join(DECISIONS)}); found {c!r}.")
        if c["decision"] == "relabel" and not c.get("label"):
            raise UserError(f"{path}: relabelling {c['item']} needs a label.")
    return entries


def save_corrections(path: str | os.PathLike, corrections: list[dict]) -> None:
    write_text_atomic(Path(path), json.dumps({"version": 1, "corrections": corrections},
                                             indent=1))


def decide(corrections: list[dict], item: str, given: str, decision: str,
           label: str | None = None) -> list[dict]:
    """``corrections`` with ``item``'s decision replaced by this one."""
    if decision not in DECISIONS:
        raise UserError(f"Unknown decision {decision!r}; use one of {', '.join(DECISIONS)}.")
    entry = {"item": item, "given": given, "decision": decision}
    if decision == "relabel":
        entry["label"] = label
    return [c for c in corrections if c["item"] != item] + [entry]


def _key(item: str, root: Path) -> str:
    """Paths compared absolute and normalised; a text (a table row) as it is."""
    p = Path(item)
    if not p.is_absolute() and (root / p).exists():
        p = root / p
    return os.path.normcase(os.path.abspath(p)) if p.is_absolute() else item


def apply_corrections(scan_, corrections: list[dict]) -> list[str]:
    """Relabel and leave out the corrected examples of ``scan_`` in place (every split).
    Returns (and adds to the scan's warnings) one line per correction that matched no
    example: its file is missing, or its new label is not a class. A multi-label scan takes
    exclude and keep decisions; a relabel is refused (:class:`UserError`)."""
    from desktop_ft.core.data.scan_result import Split

    if not corrections:
        return []
    relabels = [c["item"] for c in corrections if c["decision"] == "relabel"]
    if getattr(scan_, "multi_label", False) and relabels:
        raise UserError(f"The corrections relabel {len(relabels)} example(s) (e.g. "
                        f"{relabels[0][:60]}), but {scan_.root} has several labels per row: "
                        "a relabel names one class and cannot say which of a row's labels "
                        "to change. Edit the row's labels in the table instead; exclude and "
                        "keep decisions apply as they are.")
    root = Path(scan_.root)
    root = root if root.is_dir() else root.parent
    wanted = {_key(c["item"], root): c for c in corrections}
    listed = []
    for c in corrections:
        if c["decision"] == "relabel" and c["label"] not in scan_.classes:
            listed.append(f"Correction for {c['item']}: '{c['label']}' is not a class; "
                          "ignored.")
            wanted.pop(_key(c["item"], root), None)
    seen = set()
    for name in ("train", "val", "test"):
        split = getattr(scan_, name)
        if split is None:
            continue
        items, labels = [], []
        for item, label in zip(split.items, split.labels):
            key = _key(str(item), root)
            c = wanted.get(key)
            if c is not None:
                seen.add(key)
                if c["decision"] == "exclude":
                    continue
                if c["decision"] == "relabel":
                    label = scan_.classes.index(c["label"])
            items.append(item)
            labels.append(label)
        setattr(scan_, name, Split(items, labels))
    for key, c in wanted.items():
        if key not in seen:
            listed.append(f"Correction for {c['item']}: no such example in the data (the "
                          "file is missing or was moved); skipped.")
    scan_.warnings += listed
    return listed


def apply_to_folder(corrections: list[dict], root: str | os.PathLike,
                    undo_path: str | os.PathLike) -> tuple[list[dict], list[str]]:
    """Move the relabelled files into their new class's folder and the excluded ones into
    ``<class folder's parent>/.excluded/<class>/``; write the undo record to ``undo_path``
    first. Returns (the corrections still to keep: Keep and those that moved nothing,
    one line per correction not applied)."""
    root = Path(root)
    root = root if root.is_dir() else root.parent
    plan, left, notes = [], [], []
    for c in corrections:
        src = Path(_key(c["item"], root))
        target = _target(src, c) if c["decision"] != "keep" else None
        if target is None:
            left.append(c)
            if c["decision"] != "keep":
                notes.append(f"{c['item']} was not moved: it is not a file in a folder "
                             f"named {c.get('given')!r}.")
            continue
        plan.append((src, _free(target, {t for _, t in plan})))
    record = {"root": str(root), "moves": [{"from": str(s), "to": str(t)} for s, t in plan],
              "corrections": corrections}
    write_text_atomic(Path(undo_path), json.dumps(record, indent=1))
    for src, dst in plan:
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(src), str(dst))
    return left, notes


def _target(src: Path, c: dict) -> Path | None:
    if not src.is_file():
        return None
    class_dir = next((p for p in src.parents if p.name == c.get("given")), None)
    if class_dir is None:
        return None
    inner = src.relative_to(class_dir)
    if c["decision"] == "relabel":
        return class_dir.parent / c["label"] / inner
    return class_dir.parent / EXCLUDED_FOLDER / class_dir.name / inner


def _free(path: Path, taken: set) -> Path:
    """``path``, or ``name (2).ext`` … when a file of that name is already there."""
    n, candidate = 1, path
    while candidate.exists() or candidate in taken:
        n += 1
        candidate = path.with_name(f"{path.stem} ({n}){path.suffix}")
    return candidate


def undo_apply(undo_path: str | os.PathLike) -> list[dict]:
    """Move every file back where it was and return the corrections as they were before
    the folder was changed. The undo record is removed once done."""
    try:
        record = json.loads(Path(undo_path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UserError(f"{undo_path} cannot be read as an undo record ({e}).") from None
    for move in reversed(record["moves"]):
        src, dst = Path(move["to"]), Path(move["from"])
        if not src.exists():
            raise UserError(f"{src} is no longer there; it cannot be moved back to {dst}.")
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(src), str(dst))
        _remove_empty_up_to(src.parent, Path(record["root"]))
    Path(undo_path).unlink()
    return record["corrections"]


def _remove_empty_up_to(folder: Path, root: Path) -> None:
    """The folders the move made (a new class's, ``.excluded``), once empty again."""
    while folder != root and root in folder.parents and folder.is_dir() and \
            not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent


def corrections_path_for(data: str | os.PathLike) -> Path:
    """Where the window keeps a data set's corrections: beside the folder or table (not
    inside it, where it would be scanned), e.g. ``pets.corrections.json`` next to ``pets/``."""
    p = Path(data).expanduser().resolve()
    return p.parent / f"{p.name}.corrections.json"


def undo_path_for(data: str | os.PathLike) -> Path:
    """Where "Apply to folder…" writes its undo record for ``data``."""
    return corrections_path_for(data).with_name(corrections_path_for(data).name.replace(
        ".corrections.json", ".corrections-undo.json"))


def apply_saved_corrections(scan_) -> list[str]:
    """:func:`apply_corrections` with the file :func:`corrections_path_for` names for the
    scan's data, when there is one."""
    path = corrections_path_for(scan_.root)
    return apply_corrections(scan_, load_corrections(path)) if path.exists() else []
