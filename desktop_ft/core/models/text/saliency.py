"""Token importance for text models: integrated gradients on the token embeddings.

The whole classifier runs as it is (LoRA and int8 included) with its token-embedding
layer answering with given embeddings instead of looking ids up, so one code path serves
every architecture. A token's score is max(0, Σ_h (e − b)_h · mean_α ∂z(b + α(e − b))/∂e_h):
gradient × input averaged along the straight path from a baseline b (the padding token's
embedding at every position, "no word here") to the real embeddings (:data:`STEPS`
points), where z is the predicted class's logit — how much the word argues for the
prediction — normalised to a maximum of 1. Special tokens and padding are left out.
Tokens come back as the characters of the text they cover (so "Café" reads as typed, even
through a lowercasing, accent-stripping or byte-level tokenizer), pieces after the first
of a word as ``##``-continuations.
"""

from __future__ import annotations

import contextlib

STEPS = 16


@contextlib.contextmanager
def _embeddings_given(layer, holder: dict):
    """``layer(ids)`` returns ``holder["e"]`` (cast to the layer's compute dtype) while
    the block runs."""
    import keras

    original = layer.call

    def call(inputs, *args, **kwargs):
        return keras.ops.cast(holder["e"], layer.compute_dtype)
    layer.call = call
    try:
        yield
    finally:
        del layer.call          # the instance attribute goes; the class's method is back
        if layer.call != original:
            layer.call = original


def _logits(model, x):
    """The logits before the output activation, which saturates for confident
    predictions: the classifier with its ``logits`` layer's activation skipped."""
    import keras

    output = model.get_layer("logits")
    activation = output.activation
    output.activation = keras.activations.linear
    try:
        return keras.ops.cast(model(x, training=False), "float32")
    finally:
        output.activation = activation


def token_importance(bundle, texts, label: int | None = None) -> list[dict]:
    """Each text's tokens scored by their evidence for its most probable class (a
    multi-label model: its most probable label), or for ``label``."""
    import keras
    import numpy as np

    from desktop_ft.core.backend import gradient
    from desktop_ft.core.models.text.build import require_tokenizer

    ops = keras.ops
    model = bundle.model
    tokenizer = require_tokenizer(bundle)
    length = bundle.spec.seq_len
    embed = model.backbone.token_embedding
    out = []
    for text in texts:
        x = tokenizer.encode([text], length)
        ids = x["token_ids"]
        emb = ops.convert_to_numpy(ops.cast(embed(ids), "float32"))
        base = ops.convert_to_numpy(ops.cast(embed(np.full_like(ids, tokenizer.pad_id)),
                                             "float32"))
        batch = {k: np.repeat(v, STEPS, axis=0) for k, v in x.items()}
        holder: dict = {}

        def logits_of(e, inputs, holder=holder):
            holder["e"] = e
            z = _logits(model, inputs)
            # One sigmoid unit: the logit of class 1, its negation for class 0.
            return ops.concatenate([-z, z], axis=-1) if bundle.binary else z

        with _embeddings_given(embed, holder):
            c = int(np.argmax(ops.convert_to_numpy(logits_of(emb, x))[0])) \
                if label is None else int(label)
            alphas = np.linspace(1.0 / STEPS, 1.0, STEPS, dtype=np.float32).reshape(
                STEPS, 1, 1)
            path = base + alphas * (emb - base)
            grads = gradient(lambda p, c=c, b=batch: ops.sum(logits_of(p, b)[:, c]), path)
        # Evidence for the predicted class: words that argue against it score 0.
        relevance = np.maximum((grads.mean(axis=0) * (emb - base)[0]).sum(axis=-1), 0.0)
        tokens, scores = [], []
        for (piece, special, starts), r in zip(tokenizer.pieces(text, length), relevance):
            if not special:
                tokens.append(piece if starts or not tokens else f"##{piece}")
                scores.append(float(r))
        peak = max(scores) if scores else 0.0
        out.append({"tokens": tokens,
                    "scores": [s / peak if peak > 0 else 0.0 for s in scores],
                    "probs": [float(p) for p in bundle.predict_proba([text])[0]],
                    "label": c})
    return out

