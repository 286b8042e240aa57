"""The Network picker: every model modality, grouped by what it takes."""

from __future__ import annotations

from desktop_ft.core.errors import window_text
from desktop_ft.core.models import ARCHITECTURES
from desktop_ft.gui.widgets.grouped_combo import GroupedComboBox


class ArchitecturePicker(GroupedComboBox):
    """Every modality of the registry under a header per input kind ("Images" first, then
    "Text"); ``currentData()`` is the modality's name. Each item's tooltip says what it
    takes, in which languages and from which presets — all from core, never named here."""

    def __init__(self, parent=None, **kwargs):
        super().__init__(parent, **kwargs)
        kinds = sorted(dict.fromkeys(f.input_kind for f in ARCHITECTURES.values()),
                       key=lambda kind: kind != "images")
        for kind in kinds:
            self.add_section(kind.capitalize())
            for name, modality in ARCHITECTURES.items():
                if modality.input_kind == kind:
                    self.add_item(_label(modality), name, _tooltip(modality))


def _label(modality) -> str:
    """The title, and for a network with a known size its parameters and ImageNet top-1."""
    row = modality.table_row()
    facts = [f"{row['params'] / 1e6:.1f} M" if row["params"] else "",
             f"top-1 {row['top1']:.1f} %" if row["top1"] is not None else ""]
    facts = [f for f in facts if f]
    return f"{modality.title}  ({', '.join(facts)})" if facts else modality.title


def _tooltip(modality) -> str:
    row = modality.table_row()
    lines = [modality.title, f"Input: {window_text(row['input'])}"]
    if row["speed"]:
        lines.append(f"Speed: {row['speed']:.0f} images/s at its default size on a 2-core "
                     "CPU (inference, bench/image_backbones.py)")
    if row["weights"]:
        lines.append(f"Pretrained weights: {row['weights']}")
    languages = getattr(getattr(modality, "arch", None), "languages", "")
    if languages:
        lines.append(f"Languages: {languages}")
    if modality.presets:
        lines.append(f"Presets: {', '.join(modality.presets)}, or a local folder")
    return "\n".join(lines)
