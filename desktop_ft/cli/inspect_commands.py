"""The commands that look without training: ``models`` (the architectures), ``layers``
(a model's tree and a strategy's effect), ``scan`` (a dataset), and over an export:
``evaluate``, ``predict``, ``explain``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from desktop_ft.cli.model_args import spec_from_args
from desktop_ft.cli.printing import PrintingObserver, print_evaluation, print_scan
from desktop_ft.core.errors import UserError


def cmd_models(args) -> int:
    from desktop_ft.core.models import model_table

    rows = model_table()
    if args.json:
        print(json.dumps(rows))
        return 0
    print(f"{'NAME':<20} {'INPUT':<24} {'PARAMS':>8} {'TOP-1':>6}  PRETRAINED WEIGHTS")
    for r in rows:
        top1 = f"{r['top1']:.1f}" if r["top1"] is not None else "—"
        params = f"{r['params'] / 1e6:.1f} M" if r["params"] else "—"
        print(f"{r['name']:<20} {r['input']:<24} {params:>8} {top1:>6}  {r['weights']}")
    return 0


def cmd_layers(args) -> int:
    from desktop_ft.core.models import load_model
    from desktop_ft.core.training import prepare_strategy

    spec = spec_from_args(args)
    out = sys.stderr if args.json else sys.stdout
    observer = PrintingObserver(out)
    bundle = load_model(spec, observer)
    bundle = prepare_strategy(bundle, args.strategy or "auto",
                              unfreeze_last=1 if args.unfreeze_last is None
                              else args.unfreeze_last, lora_rank=args.lora_rank or 4,
                              patterns=getattr(args, "patterns", None) or [],
                              observer=observer)
    tree = bundle.tree
    tree.apply_to_model()
    if args.json:
        rows = [{"path": n.path, "name": n.name, "kind": n.kind, "state": n.state,
                 "params": n.params, "trainable_params": n.trainable_params,
                 "output_shape": n.output_shape} for n in tree.nodes()]
        print(json.dumps({"nodes": rows, **tree.summary()}))
    else:
        print(tree.render())
    return 0


def cmd_scan(args) -> int:
    from desktop_ft.core import data

    scan = data.scan(args.data, args.kind, text_column=args.text_column,
                     label_column=args.label_column, multi_label=args.multi_label or None)
    if args.corrections:
        from desktop_ft.core.data.corrections import apply_corrections, load_corrections

        if not Path(args.corrections).is_file():
            raise UserError(f"--corrections {args.corrections}: no such file.")
        apply_corrections(scan, load_corrections(args.corrections))
    if args.json:
        print(json.dumps(scan.summary()))
        return 0
    print_scan(scan.summary(), sys.stdout)
    return 0


def cmd_evaluate(args) -> int:
    from desktop_ft.core import data
    from desktop_ft.core.data.datasets import load_inputs
    from desktop_ft.core.training.metrics import evaluation_metrics

    exported = _open_export(args.out)
    decision = _decision(exported, args)     # (with --unknown-below when given)
    # A multi-label export reads the table's label cells as sets.
    multi = {"multi_label": True} if decision.multi_label else {}
    scan = data.scan(args.data, exported.kind, classes=exported.labels,
                     text_column=args.text_column, label_column=args.label_column, **multi)
    items, labels = list(scan.train.items), list(scan.train.labels)
    for split in (scan.val, scan.test):
        if split is not None:
            items += split.items
            labels += split.labels
    probs = exported.predict_proba(load_inputs(exported.kind, items))
    ev = evaluation_metrics(labels, probs, exported.labels, decision)
    ev["split"] = "given"
    ev["skipped"] = [{"path": p, "reason": r} for p, r in scan.skipped]
    if decision.unknown_below is not None and not decision.multi_label:
        from desktop_ft.core.training.calibration import selective_accuracy

        ev["unknown"] = selective_accuracy(labels, probs, decision.unknown_below)
    if args.report:
        from desktop_ft.core.report import write_report

        wrong = _mistakes(items, labels, probs, exported.labels, decision)
        ev["report"] = str(write_report(args.report, evaluation=ev, mistakes=wrong,
                                        kind=exported.kind, meta=exported.meta,
                                        data=str(args.data),
                                        title=f"desktop-ft report — {Path(args.out).name}"))
    if args.json:
        print(json.dumps(ev))
    else:
        for p, r in scan.skipped:
            print(f"skipped {p}: {r}")
        print_evaluation(ev, sys.stdout)
        if "unknown" in ev:
            from desktop_ft.core.training.calibration import selective_line

            print(selective_line(ev["unknown"]))
        if args.report:
            print(f"Report written to {ev['report']}")
    return 0


def _mistakes(items, labels, probs, classes, decision) -> list:
    """The report's mistakes: wrong classes, or rows with any wrong label."""
    if decision.multi_label:
        from desktop_ft.core.training.metrics import label_set_mistakes

        return label_set_mistakes(items, labels, probs, classes,
                                  decision.label_thresholds(len(classes)))
    from desktop_ft.core.explain import mistakes

    return mistakes(items, labels, probs, classes)


def cmd_predict(args) -> int:
    exported = _open_export(args.out)
    inputs = args.inputs
    if exported.kind == "images":
        probs = exported.predict_proba(_read_images(inputs))
    else:
        probs = exported.predict_proba(list(inputs))
    rows = prediction_rows(inputs, probs, exported.labels, _decision(exported, args))
    if args.json:
        print(json.dumps(rows))
        return 0
    for row in rows:
        if "labels" in row:       # multi-label: the labels that reach their thresholds
            passed = ", ".join(f"{a['label']} {a['probability']:.3f}" for a in row["labels"])
            probs_text = ", ".join(f"{c} {v:.3f} (threshold {row['thresholds'][c]:.3f})"
                                   for c, v in row["probs"].items())
            print(f"{row['input']}: {passed or '(no label reaches its threshold)'}  "
                  f"[{probs_text}]")
            continue
        probs_text = ", ".join(f"{c} {v:.3f}" for c, v in row["probs"].items())
        print(f"{row['input']}: {row['label']}  ({probs_text})")
    return 0


def prediction_rows(inputs, probs, classes: list[str], decision) -> list[dict]:
    """``predict``'s answer per input: its label (or "unknown") and every class's
    probability; multi-label: ``labels``, those that reach their thresholds, each with
    its probability and threshold, most probable first, beside every label's
    probability and threshold."""
    rows = []
    for item, p, answer in zip(inputs, probs, decision.answers(probs, classes)):
        row = {"input": item, "probs": {c: float(v) for c, v in zip(classes, p)}}
        if decision.multi_label:
            row.update(labels=answer["labels"], thresholds=dict(
                zip(classes, decision.label_thresholds(len(classes)))))
        else:
            row["label"] = answer["label"]
            if decision.unknown_below is not None:
                row["unknown"] = answer["unknown"]
        rows.append(row)
    return rows


def _decision(exported, args):
    """The export's decision, answering "unknown" below ``--unknown-below`` when given."""
    from desktop_ft.core.training.calibration import with_unknown_below

    return with_unknown_below(exported.decision, getattr(args, "unknown_below", None))


def _open_export(folder: str):
    """The export's SavedModel, or where it cannot run here (no tensorflow-text on
    Windows, none written) its model.keras or ONNX file, saying so on stderr."""
    from desktop_ft.core.export import ExportedModel

    exported = ExportedModel(folder, fallback=True)
    if exported.note:
        print(exported.note, file=sys.stderr)
    return exported


def _read_images(paths: list[str]) -> list:
    from desktop_ft.core.data.datasets import load_image_rgb

    decoded = []
    for path in paths:
        try:
            decoded.append(load_image_rgb(path))
        except (OSError, ValueError) as e:
            raise UserError(f"Cannot read image {path}: {e}") from None
    return decoded


def cmd_explain(args) -> int:
    from desktop_ft.core import explain as ex

    if not 0 <= args.opacity <= 1:
        raise UserError(f"--opacity must be from 0 to 1, got {args.opacity}.")
    bundle = ex.load_export_bundle(args.out)
    images = bundle.input_kind == "images"
    inputs = _read_images(args.inputs) if images else list(args.inputs)
    classes = bundle.classes
    chosen = getattr(args, "label", None)
    if chosen is not None and chosen not in classes:
        raise UserError(f"--label {chosen}: the model's labels are {', '.join(classes)}.")
    explained = ex.explain(bundle, inputs, None if chosen is None else classes.index(chosen))
    rows = []
    for item, e in zip(args.inputs, explained):
        best = max(range(len(e["probs"])), key=e["probs"].__getitem__)
        row = {"input": item, "label": classes[e.get("label", best)],
               "probs": dict(zip(classes, e["probs"]))}
        if images:
            row.update(heatmap=[[round(float(v), 4) for v in r] for r in e["heatmap"]],
                       layer=e["layer"])
        else:
            row.update(tokens=e["tokens"], scores=[round(s, 4) for s in e["scores"]])
        rows.append(row)
    written = []
    if args.write:
        target = Path(args.write)
        if images:
            for k, (raw, e) in enumerate(zip(inputs, explained)):
                path = target if k == 0 else \
                    target.with_name(f"{target.stem}_{k + 1}{target.suffix or '.png'}")
                ex.write_png(path, ex.overlay(raw, e["heatmap"], args.opacity))
                written.append(str(path))
        else:
            ex.write_text_html(target, explained, inputs, classes)
            written.append(str(target))
    if args.json:
        print(json.dumps(rows))
        return 0
    for row, e in zip(rows, explained):
        print(f"{row['input']}: {row['label']} ({row['probs'][row['label']]:.1%})")
        if images:
            print(f"  heatmap from {e['layer']}; strongest at row/column "
                  f"{_peak(e['heatmap'])} of {e['heatmap'].shape[0]}×{e['heatmap'].shape[1]}")
        else:
            ranked = sorted(ex.words(e["tokens"], e["scores"]), key=lambda w: -w[1])[:5]
            print("  most important: " + ", ".join(f"{w} {s:.2f}" for w, s in ranked))
    for path in written:
        print(f"Wrote {path}")
    return 0


def _peak(heatmap) -> tuple[int, int]:
    import numpy as np

    return tuple(int(i) for i in np.unravel_index(int(np.argmax(heatmap)), heatmap.shape))
