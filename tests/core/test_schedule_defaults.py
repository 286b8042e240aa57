"""The default schedule of every network is the one BENCHMARKS.md says was chosen from
the measurement (bench/schedules.py): change one without the other and this fails."""

import re
from pathlib import Path

from desktop_ft.core.models import ARCHITECTURES, modality_for

BENCHMARKS = Path(__file__).resolve().parents[2] / "BENCHMARKS.md"


def _named(schedule: tuple) -> str:
    kind, warmup = schedule
    return f"{kind}, {warmup:.0%} warm-up" if warmup else kind


def chosen() -> dict:
    """{"text": ..., "images": ...} from the line 'Defaults chosen: text `…`; images `…`.'"""
    line = re.search(r"Defaults chosen:\*\* text `([^`]+)`; images `([^`]+)`",
                     BENCHMARKS.read_text())
    assert line, "BENCHMARKS.md lost its 'Defaults chosen' line (section Schedules)"
    return {"text": line.group(1), "images": line.group(2)}


def test_every_networks_default_schedule_is_the_one_benchmarks_md_chose():
    expected = chosen()
    seen = set()
    for name in ARCHITECTURES:
        modality = modality_for(name)
        assert _named(modality.schedule) == expected[modality.input_kind], name
        seen.add(modality.input_kind)
    assert seen == {"text", "images"}
