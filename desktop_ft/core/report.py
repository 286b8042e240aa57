"""A shareable report: one self-contained HTML file (no network; pictures inline as data
URIs) with the model, strategy and data, the training curves, the metrics (per class:
accuracy, precision, recall, F1; or per label), the confusion matrix, the calibration
(a reliability diagram before and after), the top mistakes and the export's parity. Written by
``desktop-ft evaluate OUT --data PATH --report FILE`` and the window's File → Save
report…; and the page of runs compared (``desktop-ft runs --compare … --html FILE``)."""

from __future__ import annotations

import base64
import html
import io
import os
import time
from pathlib import Path

from desktop_ft.core import atomic
from desktop_ft.core.report_calibration import calibration_section
from desktop_ft.core.report_tables import class_tables, label_tables, mistake_caption

TOP_MISTAKES = 24


def _esc(value) -> str:
    return html.escape(str(value))


def thumbnail_data_uri(path: str, size: int = 96) -> str:
    """A PNG thumbnail of an image file as a ``data:`` URI ("" if it cannot be read)."""
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im).convert("RGB")
            im.thumbnail((size, size))
            buf = io.BytesIO()
            im.save(buf, format="PNG")
    except (OSError, ValueError):
        return ""
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def line_chart(series: dict[str, list[float]], title: str, y_max: float | None = None,
               width: int = 420, height: int = 220) -> str:
    """An inline SVG line chart of per-epoch values (x: epoch 1…N)."""
    colours = ["#1f3c8c", "#dc6e14", "#2e7d32", "#8e24aa", "#c62828", "#00838f", "#6d4c41",
               "#546e7a"]
    values = [v for vs in series.values() for v in vs if v == v]
    if not values:
        return ""
    n = max(len(vs) for vs in series.values())
    lo = 0.0
    hi = y_max if y_max is not None else max(values) * 1.05 or 1.0
    left, bottom, top, right = 40, 30, 24, 10

    def xy(i, v):
        x = left + (width - left - right) * (i / max(n - 1, 1))
        y = height - bottom - (height - bottom - top) * ((v - lo) / (hi - lo or 1))
        return f"{x:.1f},{y:.1f}"

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'role="img" aria-label="{_esc(title)}">',
             f'<text x="{width / 2}" y="16" text-anchor="middle" font-size="13">'
             f"{_esc(title)}</text>",
             f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" '
             f'y2="{height - bottom}" stroke="#888"/>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="#888"/>',
             f'<text x="{left - 4}" y="{top + 4}" text-anchor="end" font-size="10">{hi:.3g}'
             "</text>",
             f'<text x="{left - 4}" y="{height - bottom}" text-anchor="end" font-size="10">'
             f"{lo:.3g}</text>",
             f'<text x="{width / 2}" y="{height - 6}" text-anchor="middle" font-size="10">'
             f"epoch (1–{n})</text>"]
    for k, (name, vs) in enumerate(series.items()):
        colour = colours[k % len(colours)]
        points = " ".join(xy(i, v) for i, v in enumerate(vs) if v == v)
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
                     f'points="{points}"/>')
        parts.append(f'<text x="{width - right - 4}" y="{top + 14 + 13 * k}" '
                     f'text-anchor="end" font-size="11" fill="{colour}">{_esc(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def confusion_table(matrix: list[list[int]], classes: list[str]) -> str:
    rows = ["<table class='cm'><tr><th>true ↓ / predicted →</th>"
            + "".join(f"<th>{_esc(c)}</th>" for c in classes) + "</tr>"]
    for i, (name, row) in enumerate(zip(classes, matrix)):
        total = max(sum(row), 1)
        cells = []
        for j, v in enumerate(row):
            share = v / total
            colour = f"rgba(46,125,50,{share:.2f})" if i == j else f"rgba(198,40,40,{share:.2f})"
            cells.append(f"<td style='background:{colour}'>{v}</td>")
        rows.append(f"<tr><th>{_esc(name)}</th>{''.join(cells)}</tr>")
    return "".join(rows) + "</table>"


def _mistake_cards(mistakes: list[dict], kind: str) -> str:
    if not mistakes:
        return "<p>No mistakes on these examples.</p>"
    cards = []
    for m in mistakes[:TOP_MISTAKES]:
        if kind == "images":
            uri = thumbnail_data_uri(m["item"])
            body = f"<img src='{uri}' alt='{_esc(Path(m['item']).name)}'>" if uri else ""
            caption = _esc(Path(m["item"]).name)
        else:
            text = str(m["item"])
            body = f"<blockquote>{_esc(text[:300])}{'…' if len(text) > 300 else ''}" \
                   "</blockquote>"
            caption = ""
        cards.append(f"<div class='card'>{body}<div>{mistake_caption(m)}</div>"
                     f"<small>{caption}</small></div>")
    more = f"<p>…and {len(mistakes) - TOP_MISTAKES} more.</p>" \
        if len(mistakes) > TOP_MISTAKES else ""
    return "<div class='cards'>" + "".join(cards) + "</div>" + more


STYLE = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:980px;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f4f4f4}.cm td{min-width:3em;text-align:center}.facts td{text-align:left}
.cards{display:flex;flex-wrap:wrap;gap:10px}.card{border:1px solid #ddd;border-radius:6px;
padding:6px;width:200px;font-size:.9em}.card img{display:block;margin:auto}
blockquote{margin:0 0 4px 0;font-style:italic}"""


def write_report(path: str | os.PathLike, *, evaluation: dict, mistakes: list[dict],
                 kind: str, meta: dict | None = None, history: dict | None = None,
                 data: str = "", title: str = "desktop-ft report") -> Path:
    """Write the report atomically; return its path."""
    meta = meta or {}
    history = history or meta.get("history") or {}
    facts = [("Model", meta.get("model", "")), ("Weights", meta.get("weights", "")),
             ("Strategy", meta.get("strategy", "")),
             ("Trainable / frozen parameters",
              f"{meta.get('trainable_params', 0):,} / {meta.get('frozen_params', 0):,}"
              if "trainable_params" in meta else ""),
             ("Classes", ", ".join(evaluation.get("classes", []))),
             ("Data", data), ("Examples evaluated", evaluation.get("examples", "")),
             ("Accuracy", f"{evaluation['accuracy']:.2%}"
              if evaluation.get("accuracy") is not None else "n/a"),
             ("Export parity (max |Δ| Keras vs SavedModel)",
              # (None: no SavedModel written, e.g. text without tensorflow-text)
              f"{meta['parity_max_abs_diff']:.2e}"
              if meta.get("parity_max_abs_diff") is not None else ""),
             ("Written", time.strftime("%Y-%m-%d %H:%M"))]
    facts_html = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>"
                         for k, v in facts if v not in ("", None))
    curves = line_chart({k: history[k] for k in ("loss", "val_loss") if k in history},
                        "Loss") + line_chart(
        {k: history[k] for k in ("accuracy", "val_accuracy") if k in history}, "Accuracy", 1.0)
    # Multi-label: a per-label table instead of the per-class one and the confusion matrix.
    metrics = label_tables(evaluation) if evaluation.get("multi_label") else \
        class_tables(evaluation) + "<h2>Confusion matrix</h2>" + confusion_table(
            evaluation.get("confusion_matrix", []), evaluation.get("classes", []))
    body = (f"<h1>{_esc(title)}</h1><table class='facts'>{facts_html}</table>"
            + (f"<h2>Training curves</h2>{curves}" if curves else "")
            + metrics + calibration_section(meta, evaluation)
            + f"<h2>Top mistakes ({len(mistakes)})</h2>" + _mistake_cards(mistakes, kind))
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{_esc(title)}</title>"
            f"<style>{STYLE}</style></head><body>{body}</body></html>")
    path = Path(path).expanduser()
    atomic.write_text(path, page)
    return path


def write_compare_report(path: str | os.PathLike, comparison: dict,
                       title: str = "desktop-ft runs compared") -> Path:
    """Write the comparison as one self-contained HTML page (inline SVG curves, no
    external assets), atomically; return its path."""
    from desktop_ft.core.training.compare import LABELS, curve_names, format_value, \
        metric_rows

    runs = comparison["runs"]
    names = [r["name"] for r in runs]
    head = "<tr><th></th>" + "".join(f"<th>{_esc(n)}</th>" for n in names) + "</tr>"

    def table(rows) -> str:
        return "<table class='facts'>" + head + "".join(
            f"<tr><th>{_esc(t)}</th>" + "".join(f"<td>{_esc(c)}</td>" for c in cells)
            + "</tr>" for t, cells in rows) + "</table>"

    differs = [(LABELS[k], [format_value(r["settings"][k]) for r in runs])
               for k in comparison["differs"]]
    same = [f"{LABELS[k]}: {format_value(runs[0]['settings'][k])}" for k in LABELS
            if k not in comparison["differs"] and runs[0]["settings"][k] is not None]
    curves = "".join(line_chart({n: r["curves"].get(key, []) for n, r in zip(names, runs)},
                                title, 1.0 if "accuracy" in key or "f1" in key else None)
                     for key, title in curve_names(comparison))
    notes = [(n, r["note"]) for n, r in zip(names, runs) if r["note"]]
    body = (f"<h1>{_esc(title)}</h1>"
            + table([("Status", [r["status"] for r in runs]),
                     ("Folder", [r["path"] for r in runs])])
            + (f"<h2>Curves</h2>{curves}" if curves else "")
            + "<h2>Settings that differ</h2>"
            + (table(differs) if differs else "<p>None: the runs trained alike.</p>")
            + "<h2>Metrics</h2>" + table(metric_rows(comparison))
            + ("<h2>Notes</h2>" + "".join(f"<p><b>{_esc(n)}</b>: {_esc(t)}</p>"
                                          for n, t in notes) if notes else "")
            + "<h2>The same in every run</h2><p>" + _esc("; ".join(same)) + "</p>")
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{_esc(title)}</title>"
            f"<style>{STYLE}</style></head><body>{body}</body></html>")
    path = Path(path).expanduser()
    atomic.write_text(path, page)
    return path
