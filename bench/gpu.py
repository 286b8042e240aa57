"""GPU fine-tuning throughput: the engine against a plain-Keras ``fit`` of the same model on
the same backend, in images/s (VGG16) and tokens/s (a BERT-base encoder).

    python bench/gpu.py                          # every backend installed, one process each
    python bench/gpu.py --backend torch --images 1024 --batch 128 --epochs 3

For each backend (its own process: Keras fixes the backend per process), for head-only
and full fine-tuning of VGG16 at 224 px, in float32 and mixed bfloat16:

* **engine**: ``fine_tune`` on a folder of synthetic JPEGs, as ``desktop-ft train`` runs
  it (decoding, the per-epoch shuffled order, checkpoints off). Head-only training uses
  its feature cache: the frozen backbone runs once, before the timed epochs — which is
  the point of the cache, and why that row's ratio is large;
* **plain**: ``model.fit`` of the same model on the same images already decoded and
  preprocessed into float32 arrays in memory (no decoding; Keras slices and copies each
  float32 batch to the device, where the engine sends uint8 and preprocesses there).

The first epoch (compilation, decoding) is left out: images/s is over the later epochs.
Full fine-tuning is also given as a share of the card's bf16 peak (``--peak-tflops``,
790 for an H100/H200's dense bf16), at ≈ 46 GFLOP per training image at 224 px.

With ``--all-gpus`` (JAX), both run on every GPU of the machine in one process through
``keras.distribution.DataParallel`` (the engine does so by itself when it sees several;
plain Keras is given the same distribution), the batch split across the cards, and the
share of peak is of all the cards together:

    python bench/gpu.py --backend jax --all-gpus --batch 256

The BERT rows train BERT-base (12 layers, 768 wide, random weights), full fine-tuning,
``--seq-len`` tokens per text:

* **engine**: ``fine_tune`` of the text modality's random BERT-base (``--weights none``) on
  a CSV of synthetic texts, each long enough to fill the sequence, tokenized by the
  engine's tokenizer (Hugging Face ``tokenizers``, here over a synthetic 30,522-word
  vocabulary, since a random model has none) once up front, as ``desktop-ft train`` does;
* **plain**: ``model.fit`` of keras-hub's ``BertBackbone`` + a Dense head on random
  token ids in memory.

tokens/s counts every position (no padding in either). Neither needs TensorFlow or
tensorflow-text: the script runs with only torch or jax, keras, keras-hub and tokenizers.
Prints a Markdown table (and ``--json`` one JSON line per row).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TRAIN_FLOP_PER_IMAGE = 46e9     # VGG16 at 224 px: ~15.5 GFLOP forward, ×3 for training


def synthetic_folder(root: Path, n: int, size: int) -> Path:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in range(2):
        (root / f"class{c}").mkdir(parents=True, exist_ok=True)
        for i in range(n // 2):
            img = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            img[..., c] //= 2          # something to learn
            Image.fromarray(img).save(root / f"class{c}" / f"{i}.jpg", quality=90)
    return root


def engine_vgg(folder: Path, mode: str, precision: str, args) -> float:
    from desktop_ft.core.models import ModelSpec
    from desktop_ft.core.observer import Observer
    from desktop_ft.core.training import TrainJob, fine_tune

    seconds: list[float] = []

    class Timer(Observer):
        def on_epoch(self, epoch, logs):
            seconds.append(logs["seconds"])

    job = TrainJob(model=ModelSpec("vgg16", weights="none", image_size=args.size,
                                   precision=precision),
                   data=str(folder), strategy="head" if mode == "head" else "full",
                   epochs=args.epochs, batch_size=args.batch, val_split=0.0, lr=1e-4)
    fine_tune(job, Timer(), record_run=False)
    n = len(list(folder.rglob("*.jpg")))
    return n * len(seconds[1:]) / sum(seconds[1:])


def timed_fit(model, x, y, batch_size: int, epochs: int) -> list[float]:
    """``model.fit`` on in-memory arrays; the seconds of each epoch."""
    from _timing import epoch_timer

    seconds: list[float] = []
    model.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=True, verbose=0,
              callbacks=[epoch_timer(seconds)])
    return seconds


def plain_vgg(folder: Path, mode: str, precision: str, args) -> float:
    import keras
    import numpy as np
    from PIL import Image

    keras.mixed_precision.set_global_policy("mixed_bfloat16" if "bfloat16" in precision
                                            else "float32")
    files = sorted(folder.rglob("*.jpg"))
    x = np.stack([np.asarray(Image.open(f).convert("RGB").resize((args.size, args.size)),
                             np.float32)
                  for f in files])
    x = keras.applications.vgg16.preprocess_input(x)
    y = keras.utils.to_categorical([int(f.parent.name[-1]) for f in files], 2)
    base = keras.applications.VGG16(include_top=False, weights=None,
                                    input_shape=(args.size, args.size, 3))
    base.trainable = mode == "full"
    h = keras.layers.GlobalAveragePooling2D()(base.output)
    out = keras.layers.Dense(2, activation="softmax", dtype="float32")(
        keras.layers.Dropout(0.2)(h))
    model = keras.Model(base.input, out)
    model.compile(keras.optimizers.Adam(1e-4), "categorical_crossentropy",
                  metrics=["accuracy"])
    seconds = timed_fit(model, x, y, args.batch, args.epochs)
    keras.mixed_precision.set_global_policy("float32")
    return len(files) * len(seconds[1:]) / sum(seconds[1:])


def plain_bert(precision: str, args) -> float:
    import keras
    import keras_hub
    import numpy as np

    keras.mixed_precision.set_global_policy("mixed_bfloat16" if "bfloat16" in precision
                                            else "float32")
    backbone = keras_hub.models.BertBackbone(vocabulary_size=30522, num_layers=12,
                                             num_heads=12, hidden_dim=768,
                                             intermediate_dim=3072,
                                             max_sequence_length=args.seq_len)
    inputs = backbone.input
    pooled = backbone(inputs)["pooled_output"]
    out = keras.layers.Dense(2, activation="softmax", dtype="float32")(pooled)
    model = keras.Model(inputs, out)
    model.compile(keras.optimizers.AdamW(5e-5), "categorical_crossentropy")
    n = args.texts
    rng = np.random.default_rng(0)
    x = {"token_ids": rng.integers(1000, 30000, (n, args.seq_len)).astype("int32"),
         "segment_ids": np.zeros((n, args.seq_len), "int32"),
         "padding_mask": np.ones((n, args.seq_len), "int32")}
    y = keras.utils.to_categorical(rng.integers(0, 2, n), 2)
    seconds = timed_fit(model, x, y, args.text_batch, args.epochs)
    keras.mixed_precision.set_global_policy("float32")
    return n * args.seq_len * len(seconds[1:]) / sum(seconds[1:])


def synthetic_tokenizer(arch):
    """A WordPiece tokenizer over BERT-base's vocabulary size: the five special tokens,
    then the words ``w0``, ``w1``, … (one token each)."""
    from desktop_ft.core.models.text import hf_convert
    from desktop_ft.core.models.text.tokenizer import CheckpointTokenizer

    cls, sep, pad, unk, mask = arch.specials
    names = [pad, unk, cls, sep, mask] + [f"w{i}" for i in range(arch.vocabulary_size - 5)]
    tok = hf_convert.wordpiece({t: i for i, t in enumerate(names)}, lowercase=True,
                               strip_accents=None, chinese_chars=True, specials=arch.specials)
    return CheckpointTokenizer(tok, "a synthetic vocabulary", segment_ids=arch.segment_ids)


def synthetic_texts(path: Path, n: int, words: int) -> Path:
    """A CSV of ``n`` texts of ``words`` random vocabulary words, in two classes."""
    import numpy as np

    rng = np.random.default_rng(0)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for i in range(n):
            w.writerow([" ".join(f"w{j}" for j in rng.integers(1000, 30000, words)),
                        f"class{i % 2}"])
    return path


def tokenizer_rate(tokenizer, data: Path, seq_len: int) -> float:
    """texts/s of the engine's one tokenizing call over ``data``'s texts (best of 3)."""
    with open(data, newline="") as f:
        texts = [r["text"] for r in csv.DictReader(f)]
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        tokenizer.encode(texts, seq_len)
        best = min(best, time.perf_counter() - t0)
    return len(texts) / best


def engine_bert(data: Path, precision: str, args) -> tuple[float, float]:
    """(tokens/s trained, texts/s tokenized) of the engine."""
    from desktop_ft.core.models import ModelSpec, load_model
    from desktop_ft.core.observer import Observer
    from desktop_ft.core.training import TrainJob, fine_tune

    seconds: list[float] = []

    class Timer(Observer):
        def on_epoch(self, epoch, logs):
            seconds.append(logs["seconds"])

    bundle = load_model(ModelSpec("bert", weights="none", seq_len=args.seq_len,
                                  precision=precision))
    tokenizer = bundle.parts["tokenizer"] = synthetic_tokenizer(bundle.modality.arch)
    tokenized = tokenizer_rate(tokenizer, data, args.seq_len)
    job = TrainJob(model=bundle.spec, data=str(data), strategy="full", epochs=args.epochs,
                   batch_size=args.text_batch, val_split=0.0, lr=5e-5)
    fine_tune(job, Timer(), bundle=bundle, record_run=False)
    return args.texts * args.seq_len * len(seconds[1:]) / sum(seconds[1:]), tokenized


def on_devices(args):
    """What each measurement runs on: with ``--all-gpus`` a fresh DataParallel over every
    GPU before each (the engine hands its model back to one device when training ends);
    returns how many cards train."""
    from desktop_ft.core import distribution

    if not args.all_gpus:
        return 1
    distribution.reset()
    return max(1, distribution.distribution_strategy().num_replicas_in_sync)


def run_backend(args) -> list[dict]:
    from desktop_ft.core import backend, runtime

    backend.select(args.backend)
    runtime.configure()
    device = runtime.device_description()
    if args.all_gpus and (args.backend != "jax" or len(backend.gpus()) < 2):
        raise SystemExit(f"--all-gpus needs JAX and several GPUs; here: {device}.")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = synthetic_folder(Path(tmp) / "images", args.images, 256)
        for mode in ("head", "full"):
            for precision in ("float32", "mixed_bfloat16"):
                row = {"backend": args.backend, "device": device, "model": f"VGG16 {args.size} px",
                       "training": mode, "precision": precision}
                try:
                    row["gpus"] = on_devices(args)
                    row["plain"] = plain_vgg(folder, mode, precision, args)
                    on_devices(args)
                    row["engine"] = engine_vgg(folder, mode, precision, args)
                except Exception as e:      # e.g. out of memory: say so, go on
                    row["error"] = f"{type(e).__name__}: {str(e)[:200]}"
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
        texts = synthetic_texts(Path(tmp) / "texts.csv", args.texts, args.seq_len + 8)
        for precision in ("float32", "mixed_bfloat16"):
            row = {"backend": args.backend, "device": device,
                   "model": f"BERT-base, {args.seq_len} tokens", "training": "full",
                   "precision": precision, "unit": "tokens/s", "seq_len": args.seq_len}
            try:
                row["gpus"] = on_devices(args)
                row["plain"] = plain_bert(precision, args)
                on_devices(args)
                row["engine"], row["tokenizer"] = engine_bert(texts, precision, args)
            except Exception as e:
                row["error"] = f"{type(e).__name__}: {str(e)[:200]}"
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    return rows


def table(rows: list[dict], peak_tflops: float) -> str:
    lines = ["| backend · device | model | training | precision | plain Keras | engine | "
             "engine / plain | share of bf16 peak |",
             "| --- | --- | --- | --- | ---: | ---: | ---: | ---: |"]
    for r in rows:
        unit = r.get("unit", "images/s")
        if "error" in r:
            lines.append(f"| {r['device']} | {r['model']} | {r['training']} | "
                         f"{r['precision']} | {r['error']} | | | |")
            continue
        engine = r.get("engine")
        ratio = f"{engine / r['plain']:.2f}×" if engine else "—"
        share = ""
        if unit == "images/s" and r["training"] == "full" and engine and "224" in r["model"]:
            cards = r.get("gpus", 1)     # (--all-gpus: the peak of every card together)
            share = f"{engine * TRAIN_FLOP_PER_IMAGE / (peak_tflops * 1e12 * cards):.0%}"
        lines.append(f"| {r['device']} | {r['model']} | {r['training']} | {r['precision']} "
                     f"| {r['plain']:,.0f} {unit} | "
                     f"{f'{engine:,.0f} {unit}' if engine else '—'} "
                     f"| {ratio} | {share} |")
    notes = [f"- {r['backend']}, {r['precision']}: the engine's tokenizer "
             f"{r['tokenizer']:,.0f} texts/s on {os.cpu_count()} CPU cores, training "
             f"{r['engine'] / r['seq_len']:,.0f} texts/s: "
             f"{r['tokenizer'] * r['seq_len'] / r['engine']:,.0f}× (goal ≥ 10×)"
             for r in rows if r.get("tokenizer") and r.get("engine")]
    if notes:
        lines += ["", "Tokenizer vs training (BERT rows):", *notes]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", choices=["torch", "jax", "tensorflow"], default=None,
                    help="one backend in this process (default: each installed one, in "
                         "its own process)")
    ap.add_argument("--images", type=int, default=1024)
    ap.add_argument("--size", type=int, default=224, help="image size (224; smaller for a "
                    "quick check on a CPU)")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=3, help="the first is not timed")
    ap.add_argument("--texts", type=int, default=1024)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--text-batch", type=int, default=64)
    ap.add_argument("--peak-tflops", type=float, default=790.0)
    ap.add_argument("--all-gpus", action="store_true",
                    help="JAX: every GPU of this machine in one process "
                         "(keras.distribution.DataParallel); the share of peak is of all")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.backend:
        rows = run_backend(args)
    else:
        import importlib.util

        rows = []
        for name in ("torch", "jax"):
            if importlib.util.find_spec(name) is None or (args.all_gpus and name != "jax"):
                continue
            cmd = [sys.executable, __file__, "--backend", name, "--json",
                   *[f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items()
                     if k not in ("backend", "json", "all_gpus")],
                   *(["--all-gpus"] if args.all_gpus else [])]
            proc = subprocess.run(cmd, capture_output=True, text=True,
                                  env={**os.environ, "KERAS_BACKEND": name})
            sys.stderr.write(proc.stderr[-4000:])
            rows += [json.loads(line) for line in proc.stdout.splitlines()
                     if line.startswith("{")]
    if args.json:
        for r in rows:
            print(json.dumps(r))
    else:
        print(table(rows, args.peak_tflops))
    return 0


if __name__ == "__main__":
    sys.exit(main())
