"""``OUT/README.md``: the model card — what was trained, on what, how well, how exactly
each format matches the app, and how to load each one."""

from __future__ import annotations

SNIPPETS = {
    "saved_model": """```python
import tensorflow as tf{text_import}
serve = tf.saved_model.load("OUT/saved_model").signatures["serving_default"]
out = serve({input_name}={example})
print({outputs})
```
TF Serving: mount `OUT/saved_model` as version 1 of a model, e.g.
`docker run -p 8501:8501 -v "$PWD/OUT/saved_model:/models/m/1" -e MODEL_NAME=m \\
tensorflow/serving`""",
    "keras": """```python
import keras{keras_hub}
model = keras.saving.load_model("OUT/model.keras")   # safe_mode=True by default
```""",
    "onnx": """```python
import onnxruntime as ort, numpy as np
session = ort.InferenceSession("OUT/model.onnx")
probs = session.run(["probs"], {onnx_feed})[0]
```""",
    "litert": """```python
from ai_edge_litert.interpreter import Interpreter
runner = Interpreter(model_path="OUT/model.tflite").get_signature_runner()
probs = runner({litert_feed})["probs"]      # one example at a time
```
`model_int8.tflite` takes the same input (int8 weights and activations inside).""",
}


def _pct(v) -> str:
    return "n/a" if v is None else f"{v:.1%}"


def _metrics(metrics: dict | None) -> str:
    if metrics and metrics.get("multi_label") and metrics.get("examples"):
        return _label_metrics(metrics)
    if not metrics or "confusion_matrix" not in metrics or not metrics.get("examples"):
        return "No held-out data was evaluated.\n"
    overall = [("macro-F1", metrics.get("macro_f1")),
               ("balanced accuracy", metrics.get("balanced_accuracy")),
               ("top-5 accuracy", metrics.get("top5_accuracy")),
               ("ROC-AUC", metrics.get("roc_auc"))]
    lines = [f"Accuracy on {metrics['examples']} {metrics.get('split', 'held-out')} "
             f"examples: **{metrics['accuracy']:.2%}**; "
             + ", ".join(f"{k} {_pct(v)}" for k, v in overall if v is not None) + "\n",
             "| class | accuracy | precision | recall | F1 | support |",
             "|---|---:|---:|---:|---:|---:|"]
    per_class = metrics.get("per_class", {})
    for name, acc in metrics["per_class_accuracy"].items():
        r = per_class.get(name, {})
        lines.append(f"| {name} | {_pct(acc)} | {_pct(r.get('precision'))} | "
                     f"{_pct(r.get('recall'))} | {_pct(r.get('f1'))} | "
                     f"{r.get('support', '')} |")
    classes = metrics["classes"]
    lines += ["", "Confusion matrix (rows: true, columns: predicted):", "",
              "| | " + " | ".join(classes) + " |", "|---" * (len(classes) + 1) + "|"]
    for name, row in zip(classes, metrics["confusion_matrix"]):
        lines.append(f"| **{name}** | " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def _label_metrics(metrics: dict) -> str:
    """A multi-label evaluation: overall numbers, then one row per label."""
    lines = [f"On {metrics['examples']} {metrics.get('split', 'held-out')} examples: "
             f"micro-F1 **{_pct(metrics['micro_f1'])}**, macro-F1 "
             f"{_pct(metrics['macro_f1'])}, exact match {_pct(metrics['exact_match'])}, "
             f"mAP {_pct(metrics['mean_average_precision'])}\n",
             "| label | threshold | TP | FP | FN | precision | recall | F1 | AP |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in metrics["per_label"].items():
        lines.append(f"| {name} | {r.get('threshold', 0.5):.3f} | {r['tp']} | {r['fp']} | "
                     f"{r['fn']} | {_pct(r['precision'])} | {_pct(r['recall'])} | "
                     f"{_pct(r['f1'])} | {_pct(r['average_precision'])} |")
    return "\n".join(lines) + "\n"


def _text_note(record: dict, images: bool, seq) -> str:
    """How a text model's formats take their input, and what the tokenizer check found."""
    note = ("" if images else
            f"\nText formats other than the SavedModel take `token_ids` and "
            f"`padding_mask` (int32 `[N, {seq}]`). `tokenizer.json` (Hugging Face "
            "`tokenizers`) makes them from strings with the model's own vocabulary:\n"
            "```python\nfrom tokenizers import Tokenizer\nimport numpy as np\n"
            "tok = Tokenizer.from_file(\"OUT/tokenizer.json\")\n"
            "enc = tok.encode_batch([\"a sentence\"])\n"
            "ids = np.array([e.ids for e in enc], np.int32)\n"
            "mask = np.array([e.attention_mask for e in enc], np.int32)\n```\n")
    tokenizer = record.get("tokenizer") or {}
    if tokenizer:
        note += (f"\n**Tokenizer:** {tokenizer.get('model')} from "
                 f"{tokenizer.get('source')}; `tokenizer.json` gives the app's token ids"
                 f"{'' if tokenizer.get('matches_app') else ' — NOT on every check'}.\n")
        differs = tokenizer.get("saved_model_differs")
        if differs:
            note += (f"\nThe SavedModel's tokenizer (TensorFlow ops) gives other token "
                     f"ids than the app on {len(differs)} of "
                     f"{tokenizer.get('saved_model_checked')} checked texts; the "
                     "SavedModel's parity above counts them (`parity_differs` in "
                     "`export.json` gives each one's own). Feed `tokenizer.json` "
                     "ids (ONNX, LiteRT, model.keras) where these matter:\n\n"
                     + "\n".join(f"* `{d['text'][:60]!r}`" for d in differs[:12])
                     + ("\n* …" if len(differs) > 12 else "") + "\n")
        elif differs is not None:
            note += ("\nThe SavedModel's tokenizer gave the app's token ids on all "
                     f"{tokenizer.get('saved_model_checked')} checked texts (accents, "
                     "ß, Turkish i, CJK, emoji, control characters, …).\n")
    return note


def _int8_line(int8: dict) -> str:
    """The int8 LiteRT model's size and score on held-out data beside the float model's:
    accuracy, or for a multi-label model micro-F1 at its thresholds."""
    key = "accuracy" if "accuracy" in int8 else "micro_f1" if "micro_f1" in int8 else None
    if key is None:
        return ""
    name = "accuracy" if key == "accuracy" else "micro-F1 at the labels' thresholds"
    return (f"\nint8 LiteRT: {int8['bytes'] / 1e6:.1f} MB, {name} {int8[key]:.2%} "
            f"on {int8['validation_examples']} validation examples (float: "
            f"{int8['float_' + key]:.2%}).\n")


def _multi_label_note(record: dict) -> str:
    """How a multi-label export answers: per-label probabilities and thresholds."""
    thresholds = (record.get("decision") or {}).get("thresholds") or \
        [0.5] * len(record["classes"])
    return ("\nEvery format returns `probs` float32 `[N, labels]`: one sigmoid per label, in "
            "the order of `labels.json`. A label is present when its probability reaches "
            "its threshold (chosen on the validation split for the best F1; "
            "`labels.json` and `export.json` hold them): "
            + ", ".join(f"{c} ≥ {t:.3f}" for c, t in zip(record["classes"], thresholds))
            + ". The SavedModel also returns `predicted` (bool `[N, labels]`).\n")


def _calibration_lines(record: dict) -> list[str]:
    """Single-label: the temperature every format applies (model.keras: apply it
    yourself) and the "unknown" threshold, if any."""
    decision = record.get("decision") or {}
    if not decision or decision.get("multi_label"):
        return []
    c, t = decision.get("calibration") or {}, decision.get("temperature", 1.0)
    lines = []
    if t != 1.0:
        fitted = (f", fitted on {c['examples']} {c['fit_on']} examples (expected calibration "
                  f"error {c['ece_before']:.3f} → {c['ece_after']:.3f})"
                  if c.get("ece_after") is not None and c.get("fit_on") else "")
        lines.append(f"* **Calibration:** temperature {t:.4g}{fitted}. The SavedModel, ONNX "
                     "and LiteRT return calibrated `probs`; `model.keras` returns the raw "
                     "ones: calibrated = softmax(log(p) / T).")
    elif c.get("why"):
        lines.append(f"* **Calibration:** none (temperature 1): {c['why']}.")
    if decision.get("unknown_below") is not None:
        lines.append(f"* **Unknown:** answered when the top probability is below "
                     f"{decision['unknown_below']:.0%} (export.json `decision`; "
                     "desktop-ft predict and evaluate apply it).")
    return lines


def model_card(record: dict) -> str:
    images = record["input"] == "images"
    formats = record.get("formats_written", [])
    fmt = record.get("formats", {})
    size = record.get("image_size")
    seq = record.get("sequence_length")
    multi = bool((record.get("decision") or {}).get("multi_label"))
    values = {
        "outputs": 'out["predicted"].numpy(), out["probs"].numpy()' if multi
        else 'out["label"].numpy(), out["probs"].numpy()',
        "text_import": "" if images else "\nimport tensorflow_text  # the tokenizer's ops",
        "input_name": "images" if images else "texts",
        "example": "tf.zeros([1, 300, 200, 3], tf.uint8)" if images
        else 'tf.constant(["a sentence to classify"])',
        "keras_hub": "" if images else "\nimport keras_hub  # registers the text model classes",
        "onnx_feed": f'{{"images": np.zeros((1, {size}, {size}, 3), np.uint8)}}' if images
        else '{"token_ids": ids, "padding_mask": mask}  # from tokenizer.json',
        "litert_feed": f"images=np.zeros((1, {size}, {size}, 3), np.uint8)" if images
        else "token_ids=ids[:1], padding_mask=mask[:1]",
    }
    parity = [f"| SavedModel | {record['parity_max_abs_diff']:.2e} |"] \
        if "saved_model" in formats and record.get("parity_max_abs_diff") is not None else []
    for key, label in (("onnx", "ONNX (onnxruntime)"), ("litert", "LiteRT"),
                       ("litert_int8", "LiteRT int8")):
        if key in fmt:
            parity.append(f"| {label} | {fmt[key]['parity_max_abs_diff']:.2e} |")
    int8 = fmt.get("litert_int8", {})
    int8_line = _int8_line(int8)
    text_note = _text_note(record, images, seq)
    counts = record.get("train_examples") or {}
    data_line = ", ".join(f"{c}: {n}" for c, n in counts.items()) if counts else ""
    sections = [
        f"# {record['model'].upper()} classifier — exported by desktop-ft\n",
        f"* **Model:** {record['model']}, head `{record.get('head')}`, output "
        f"{record['output_activation']}",
        f"* **Weights:** {record['weights']}",
        f"* **Backend:** {record.get('backend', 'tensorflow')}",
        f"* **Classes:** {', '.join(record['classes'])}"
        + (f" (training examples — {data_line})" if data_line else ""),
        f"* **Strategy:** {record['strategy']} — {record['trainable_params']:,} trainable, "
        f"{record['frozen_params']:,} frozen parameters",
        f"* **Input:** {'uint8 images' if images else 'text'}"
        + (f", {size}×{size} px inside the model" if images else f", {seq} tokens"),
        (f"* **Run:** `{record['run']}`" if record.get("run") else ""),
        *_calibration_lines(record),
        *(f"* **Not written:** {name} — {why}" for name, why in
          (record.get("formats_not_written") or {}).items()),
        "\n## Metrics\n", _metrics(record.get("metrics")),
        "## Parity with the app\n",
        "Max |app − format| over real training inputs and synthetic ones, each format run "
        "by its own runtime in a fresh process:\n",
        "| format | max abs diff |", "|---|---:|", *parity, int8_line,
        "## Loading\n", _multi_label_note(record) if multi else "", text_note,
    ]
    for name in formats:
        if name in SNIPPETS:
            sections.append(f"### {name}\n\n" + SNIPPETS[name].format(**values) + "\n")
    return "\n".join(s for s in sections if s is not None) + "\n"
