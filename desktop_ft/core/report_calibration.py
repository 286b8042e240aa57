"""The report's calibration section: a reliability diagram (inline SVG, like the report's
other charts) of the validation split before and after temperature scaling, the
temperature and the calibration error, and what answering "unknown" did to the data
evaluated."""

from __future__ import annotations

import html

BEFORE, AFTER = "#dc6e14", "#1f3c8c"


def _esc(value) -> str:
    return html.escape(str(value))


def reliability_svg(before: list[dict], after: list[dict], title: str,
                    size: int = 300) -> str:
    """Confidence (x) against accuracy (y) per confidence bin: each bin a dot sized by
    its examples, joined in order, before (orange) and after (blue) calibration; the
    dashed diagonal is a calibrated model. ``before``/``after``: the bins of
    :func:`desktop_ft.core.training.calibration.reliability_bins`."""
    left, bottom, top, right = 40, 34, 24, 12
    w, h = size - left - right, size - top - bottom
    n = max([b["count"] for b in before + after] or [1])

    def xy(conf, acc):
        return left + w * conf, top + h * (1 - acc)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
             f'role="img" aria-label="{_esc(title)}">',
             f'<text x="{size / 2}" y="16" text-anchor="middle" font-size="13">'
             f"{_esc(title)}</text>",
             f'<rect x="{left}" y="{top}" width="{w}" height="{h}" fill="none" '
             'stroke="#888"/>',
             f'<line x1="{left}" y1="{top + h}" x2="{left + w}" y2="{top}" stroke="#aaa" '
             'stroke-dasharray="4 3"/>']
    for v in (0.0, 0.5, 1.0):
        x, y = xy(v, v)
        parts.append(f'<text x="{x:.1f}" y="{top + h + 13}" text-anchor="middle" '
                     f'font-size="10">{v:g}</text>')
        parts.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" '
                     f'font-size="10">{v:g}</text>')
    parts.append(f'<text x="{left + w / 2}" y="{size - 4}" text-anchor="middle" '
                 'font-size="10">confidence (top probability)</text>')
    parts.append(f'<text x="12" y="{top + h / 2}" text-anchor="middle" font-size="10" '
                 f'transform="rotate(-90 12 {top + h / 2})">accuracy</text>')
    for k, (name, bins, colour) in enumerate((("before", before, BEFORE),
                                              ("after", after, AFTER))):
        points = [xy(b["confidence"], b["accuracy"]) for b in bins]
        if len(points) > 1:
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" '
                         'points="' + " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
                         + '"/>')
        for (x, y), b in zip(points, bins):
            r = 2 + 5 * (b["count"] / n) ** 0.5
            parts.append(f'<circle class="{name}" cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" '
                         f'fill="{colour}" fill-opacity="0.7"><title>{name}: '
                         f'{b["count"]} examples, confidence {b["confidence"]:.2f}, '
                         f'accuracy {b["accuracy"]:.2f}</title></circle>')
        parts.append(f'<text x="{left + 6}" y="{top + 14 + 13 * k}" font-size="11" '
                     f'fill="{colour}">{name} calibration</text>')
    parts.append("</svg>")
    return "".join(parts)


def calibration_section(meta: dict, evaluation: dict) -> str:
    """The report's "Calibration" section ("" for a multi-label model, or a model that
    carries no decision): the reliability diagram on the split the temperature was
    fitted on, or why none was fitted; and the answers "unknown" on the data
    evaluated."""
    decision = meta.get("decision") or {}
    if not decision or decision.get("multi_label"):
        return ""
    c = decision.get("calibration") or {}
    t = decision.get("temperature", 1.0)
    if c.get("reliability"):
        text = (f"Temperature {t:.3g}, fitted on {c['examples']} {c['fit_on']} examples: "
                f"expected calibration error {c['ece_before']:.3f} before, "
                f"{c['ece_after']:.3f} after. Every probability the app and the exports "
                "give is calibrated.")
        body = reliability_svg(c["reliability"]["before"], c["reliability"]["after"],
                               f"Reliability on the {c['fit_on']} split")
    else:
        why = f": {c['why']}" if c.get("why") else ""
        text = f"Not calibrated (temperature 1){why}." if t == 1 else \
            f"Temperature {t:.3g}{why}."
        body = ""
    section = f"<h2>Calibration</h2><p>{_esc(text)}</p>{body}"
    unknown = evaluation.get("unknown")
    if unknown:
        from desktop_ft.core.training.calibration import selective_line

        section += f"<h2>Unknown</h2><p>{_esc(selective_line(unknown))}</p>"
    elif decision.get("unknown_below") is not None:
        section += (f"<p>{_esc('Answers unknown below a top probability of')} "
                    f"{decision['unknown_below']:.0%}.</p>")
    return section
