"""``desktop-ft runs``: list the training runs with their disk use, delete some, prune
the folder to the retention cap (``--prune``, ``--keep-runs``, ``--max-runs-gb``), compare
runs (``--compare``, ``--html``) or keep a note with one (``--note``)."""

from __future__ import annotations

import json
from pathlib import Path


def cmd_runs(args) -> int:
    from desktop_ft.core.training import retention
    from desktop_ft.core.training.runs import default_runs_dir, delete_run, list_runs

    root = Path(args.run_dir).expanduser() if args.run_dir else default_runs_dir()
    if args.delete:
        for name in args.delete:
            path = _run_path(root, name)
            delete_run(path)
            print(f"Deleted {path}")
        return 0
    if args.compare:
        return _compare(args, root)
    if args.html:
        from desktop_ft.core.errors import UserError

        raise UserError("--html writes a comparison: give the runs with --compare RUN RUN....")
    if args.note:
        from desktop_ft.core.training.runs import set_note

        kept = set_note(_run_path(root, args.note[0]), args.note[1])
        print(json.dumps({"note": kept}) if args.json else
              f"Note kept: {kept}" if kept else "Note cleared.")
        return 0
    if args.prune:
        return _prune(args, root)
    runs = list_runs(root)
    if args.json:
        print(json.dumps(runs))
        return 0
    if not runs:
        print(f"No runs in {root}.")
        return 0
    print(f"Runs in {root}:")
    for r in runs:
        best = r["best"] or {}
        metric = f"best {best['monitor']} {best['value']:.4f} (epoch {best['epoch']})" \
            if best else "no checkpoint yet"
        print(f"  {r['name']:<32} {r['status']:<12} {r['epochs_done']}/{r['epochs']} epochs  "
              f"{metric}  {r['bytes'] / 1e6:.1f} MB")
    total = sum(r["bytes"] or 0 for r in runs)
    print(f"Total: {len(runs)} run{'s' if len(runs) != 1 else ''}, "
          f"{retention.format_bytes(total)} (`desktop-ft runs --prune` keeps "
          f"{retention.describe_cap(retention.DEFAULT_KEEP, retention.DEFAULT_MAX_GB * 1e9)})")
    return 0


def _prune(args, root: Path) -> int:
    from desktop_ft.core.training import retention

    keep = retention.DEFAULT_KEEP if args.keep_runs is None else args.keep_runs
    max_gb = retention.DEFAULT_MAX_GB if args.max_runs_gb is None else args.max_runs_gb
    if keep < 0 or not max_gb >= 0:
        from desktop_ft.core.errors import UserError

        raise UserError("--keep-runs and --max-runs-gb must be 0 (no cap) or more.")
    max_bytes = max_gb * 1e9
    removed = retention.prune_runs(root, keep, max_bytes, dry_run=args.dry_run)
    total = retention.total_usage(root)
    if args.json:
        print(json.dumps({"removed": removed, "dry_run": args.dry_run,
                          "freed_bytes": sum(r["bytes"] or 0 for r in removed),
                          "total_bytes": total}))
        return 0
    for r in removed:
        print(f"{'Would remove' if args.dry_run else 'Removed'} {r['name']:<32} "
              f"{r['status']:<10} {retention.format_bytes(r['bytes'] or 0)}")
    line = retention.describe(removed, keep, max_bytes,
                              "Would remove" if args.dry_run else "Removed")
    print(line or f"Nothing to remove: {root} already keeps "
          f"{retention.describe_cap(keep, max_bytes)}.")
    print(f"Runs in {root} use {retention.format_bytes(total)}.")
    return 0


def _run_path(root: Path, name: str) -> Path:
    return Path(name) if Path(name).is_dir() else root / name


def _compare(args, root: Path) -> int:
    from desktop_ft.core.report import write_compare_report
    from desktop_ft.core.training import compare

    comparison = compare.compare_runs([_run_path(root, n) for n in args.compare])
    if args.html:
        print(f"Comparison written to {write_compare_report(args.html, comparison)}")
    if args.json:
        print(json.dumps(comparison))
        return 0
    runs = comparison["runs"]
    for i, r in enumerate(runs, 1):
        print(f"[{i}] {r['name']}  {r['status']}" + (f"  — {r['note']}" if r["note"] else ""))
    width = max(len(t) for t in compare.LABELS.values())
    print("Settings that differ:" if comparison["differs"] else
          "Settings that differ: none")
    for key in comparison["differs"]:
        cells = "  ".join(f"[{i}] {compare.format_value(r['settings'][key])}"
                          for i, r in enumerate(runs, 1))
        print(f"  {compare.LABELS[key]:<{width}}  {cells}")
    print("Metrics:")
    for title, values in compare.metric_rows(comparison):
        cells = "  ".join(f"[{i}] {v}" for i, v in enumerate(values, 1))
        print(f"  {title:<{width + 12}}  {cells}")
    return 0
