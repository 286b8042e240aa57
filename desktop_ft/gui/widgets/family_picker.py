"""The Network picker: every model family, grouped by what it takes."""

from __future__ import annotations

from desktop_ft.core.models import FAMILIES
from desktop_ft.gui.widgets.grouped_combo import GroupedComboBox


class FamilyPicker(GroupedComboBox):
    """Every family of the registry under a header per input kind ("Images" first, then
    "Text"); ``currentData()`` is the family's name. Each item's tooltip says what it
    takes, in which languages and from which presets — all from core, never named here."""

    def __init__(self, parent=None, **kwargs):
        super().__init__(parent, **kwargs)
        kinds = sorted(dict.fromkeys(f.input_kind for f in FAMILIES.values()),
                       key=lambda kind: kind != "images")
        for kind in kinds:
            self.add_section(kind.capitalize())
            for name, family in FAMILIES.items():
                if family.input_kind == kind:
                    self.add_item(family.title, name, _tooltip(family))


def _tooltip(family) -> str:
    lines = [family.title, f"Input: {family.input_kind}"]
    languages = getattr(getattr(family, "arch", None), "languages", "")
    if languages:
        lines.append(f"Languages: {languages}")
    if family.presets:
        lines.append(f"Presets: {', '.join(family.presets)}, or a local folder")
    return "\n".join(lines)
