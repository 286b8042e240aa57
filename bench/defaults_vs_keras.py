"""The app's defaults against a plain Keras script on the same data, over three seeds:
validation accuracy and loss after the same number of epochs.

    python bench/defaults_vs_keras.py [--cases image text] [--seeds 0 1 2]
                                      [--out defaults.jsonl]

The app: ``fine_tune`` of a ``TrainJob`` that sets only the model, the data, the epochs
and the seed, so the strategy (only the new head on pretrained weights), the learning
rate, the optimizer, the schedule, the batch size (32) and the head are the app's own
defaults. The plain script (``bench/_plain.py``): Keras's transfer-learning guide with
the same backbone and weights, the base frozen, GAP (images) or keras-hub's pooled
output (text), Dropout(0.2), a new Dense head, ``Adam()`` at its default 1e-3, ``fit``
at batch 32. The tasks are those of ``bench/schedules.py``: VGG16 with HED's conv
weights on 500 digits at 32 px, 10 epochs (the app's default); all-MiniLM-L6-v2 on 256
tweets at sequence length 40, 5 epochs. The same fixed validation set for both. Each
run appends a JSON line to ``--out``; the last line is the ratio app/plain of the mean
validation accuracy.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

EPOCHS = {"image": 10, "text": 5}


def app_run(case: str, seed: int, data: dict) -> dict:
    import keras

    from desktop_ft.core.models import ModelSpec
    from desktop_ft.core.training import TrainJob, fine_tune
    from desktop_ft.core.training.schedules import resolve_schedule
    from schedules import SEQ_LEN

    keras.backend.clear_session()
    spec = ModelSpec("bert", preset=data["minilm"], seq_len=SEQ_LEN) if case == "text" \
        else ModelSpec("vgg16", weights=data["hed"], image_size=32)
    job = TrainJob(model=spec, data=data[case][0], val_data=data[case][1],
                   epochs=EPOCHS[case], seed=seed)
    result = fine_tune(job, record_run=False)
    kind, warmup = resolve_schedule(job)
    return {"val_accuracy": result.history["val_accuracy"][-1],
            "val_loss": result.history["val_loss"][-1],
            "settings": f"{result.bundle.tree.strategy}, lr {result.learning_rate:g}, "
                        f"{job.optimizer_name()}, {kind} {warmup:g}"}


def plain_run(case: str, seed: int, data: dict) -> dict:
    import keras
    from _plain import plain_image_fit, plain_text_fit
    from schedules import SEQ_LEN

    keras.backend.clear_session()
    if case == "text":
        return plain_text_fit(*data["text"], data["minilm"], seed, EPOCHS["text"],
                              seq_len=SEQ_LEN)
    return plain_image_fit(*data["image"], data["hed"], seed, EPOCHS["image"])


def reused_app_runs(path: Path, rows: list) -> list:
    """The app's default runs found in bench/schedules.py's JSON lines (same task, data,
    epochs, seed, strategy, rate and schedule as :func:`app_run`'s job)."""
    from desktop_ft.core.models import ModelSpec
    from desktop_ft.core.training import TrainJob
    from desktop_ft.core.training.schedules import resolve_schedule

    found = []
    for case, arch in (("image", "vgg16"), ("text", "bert")):
        kind, warmup = resolve_schedule(TrainJob(model=ModelSpec(arch, weights="none")))
        for line in path.read_text().splitlines():
            r = json.loads(line)
            if r["case"] == f"{case}-head" and r["schedule"] == f"{kind} {warmup:g}" and \
                    r["epochs"] == EPOCHS[case] and not any(
                        (x["case"], x["side"], x["seed"]) == (case, "app", r["seed"])
                        for x in rows + found):
                found.append({"val_accuracy": r["val_accuracy"], "val_loss": r["val_loss"],
                              "settings": f"head, lr {r['lr']:g}, {kind} {warmup:g} "
                                          "(bench/schedules.py)",
                              "case": case, "side": "app", "seed": r["seed"]})
    return found


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", nargs="*", default=["image", "text"],
                    choices=["image", "text"])
    ap.add_argument("--sides", nargs="*", default=["app", "plain"], choices=["app", "plain"])
    ap.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    ap.add_argument("--out", default="defaults.jsonl")
    ap.add_argument("--app-from", default=None, metavar="SCHEDULES.jsonl",
                    help="take the app's runs from bench/schedules.py's output: its "
                         "head-only runs of the default schedule are the same jobs")
    args = ap.parse_args()
    from _realdata import digit_folders, hed_weights, minilm_folder, tweet_csvs
    from schedules import spread

    out = Path(args.out)
    rows = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    if args.app_from:
        rows += reused_app_runs(Path(args.app_from), rows)
    tmp = Path(tempfile.mkdtemp())
    data = {"text": [str(p) for p in tweet_csvs(tmp / "tweets")],
            "image": [str(p) for p in digit_folders(tmp / "digits")],
            "minilm": minilm_folder(), "hed": str(hed_weights())}
    for case in args.cases:
        for seed in args.seeds:
            for side in args.sides:
                if any((r["case"], r["side"], r["seed"]) == (case, side, seed) for r in rows):
                    continue
                start = time.perf_counter()
                row = (app_run if side == "app" else plain_run)(case, seed, data)
                row.update(case=case, side=side, seed=seed,
                           seconds=round(time.perf_counter() - start, 1))
                print(json.dumps(row), flush=True)
                rows.append(row)
                with out.open("a") as f:
                    f.write(json.dumps(row) + "\n")
    print("| task | side | val accuracy: mean ± sd (min–max) | val loss | seeds |")
    print("|---|---|---|---|---:|")
    ratios = []
    for case in ("image", "text"):
        means = {}
        for side in ("app", "plain"):
            rs = [r for r in rows if (r["case"], r["side"]) == (case, side)]
            if rs:
                means[side] = statistics.mean(r["val_accuracy"] for r in rs)
                print(f"| {case} | {side} | {spread([r['val_accuracy'] for r in rs])} | "
                      f"{spread([r['val_loss'] for r in rs])} | {len(rs)} |")
        if len(means) == 2:
            ratios.append(f"{case} {means['app'] / means['plain']:.3f}")
    print("ratio app/plain, mean val accuracy: " + ", ".join(ratios))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
