"""Token importance for BERT: integrated gradients on the token embeddings.

The classifier's forward pass is replayed layer by layer (the same layer objects, LoRA
and int8 included) so the token embeddings can be fed directly. A token's score is
max(0, Σ_h (e − b)_h · mean_α ∂z(b + α(e − b))/∂e_h): gradient × input averaged along
the straight path from a baseline b (the [PAD] token's embedding at every position,
"no word here") to the real embeddings (:data:`STEPS` points), where z is the predicted
class's logit — how much the word argues for the prediction — normalised to a maximum
of 1. Special tokens and padding are left out.
"""

from __future__ import annotations

STEPS = 16


def _forward(model, token_embeddings, segment_ids, padding_mask):
    import keras

    backbone = model.backbone
    positions = backbone.position_embedding(token_embeddings)
    segments = backbone.segment_embedding(segment_ids)
    x = backbone.embeddings_add((token_embeddings, positions, segments))
    x = backbone.embeddings_layer_norm(x)
    for layer in backbone.transformer_layers:
        x = layer(x, padding_mask=padding_mask, training=False)
    pooled = backbone.pooled_dense(x[:, backbone.cls_token_index, :])
    # The logits before the output activation, which saturates for confident predictions.
    output = model.get_layer("logits")
    ops = keras.ops
    pooled = ops.cast(pooled, output.kernel.dtype)
    return ops.cast(ops.matmul(pooled, output.kernel) + output.bias, "float32")


def token_importance(bundle, texts) -> list[dict]:
    import keras
    import numpy as np
    import tensorflow as tf     # keras-hub's tokenizers run on TensorFlow on every backend

    from desktop_ft.core.backend import gradient

    ops = keras.ops
    model = bundle.model
    preprocessor = model.preprocessor
    tokenizer = preprocessor.tokenizer
    special = {tokenizer.cls_token, tokenizer.sep_token, tokenizer.pad_token}
    out = []
    for text in texts:
        x = {k: ops.convert_to_numpy(v) for k, v in preprocessor(tf.constant([text])).items()}
        ids = x["token_ids"]
        embed = model.backbone.token_embedding
        emb = ops.convert_to_numpy(ops.cast(embed(ids), "float32"))
        base = ops.convert_to_numpy(ops.cast(embed(np.full_like(ids, tokenizer.pad_token_id)),
                                             "float32"))
        segments = np.repeat(x["segment_ids"], STEPS, axis=0)
        mask = np.repeat(x["padding_mask"], STEPS, axis=0)
        compute = embed.compute_dtype

        def logits_of(e, segments, mask, compute=compute):
            z = _forward(model, ops.cast(e, compute), segments, mask)
            # One sigmoid unit: the logit of class 1, its negation for class 0.
            return ops.concatenate([-z, z], axis=-1) if bundle.binary else z

        c = int(np.argmax(ops.convert_to_numpy(
            logits_of(emb, x["segment_ids"], x["padding_mask"]))[0]))
        alphas = np.linspace(1.0 / STEPS, 1.0, STEPS, dtype=np.float32).reshape(STEPS, 1, 1)
        path = base + alphas * (emb - base)
        grads = gradient(lambda p, s=segments, m=mask, c=c, f=logits_of:
                         ops.sum(f(p, s, m)[:, c]), path)
        # Evidence for the predicted class: words that argue against it score 0.
        relevance = np.maximum((grads.mean(axis=0) * (emb - base)[0]).sum(axis=-1), 0.0)
        mask = np.asarray(x["padding_mask"])[0].astype(bool)
        tokens, scores = [], []
        for token_id, r, keep in zip(np.asarray(ids)[0], relevance, mask):
            token = tokenizer.id_to_token(int(token_id))
            if keep and token not in special:
                tokens.append(token)
                scores.append(float(r))
        peak = max(scores) if scores else 0.0
        out.append({"tokens": tokens,
                    "scores": [s / peak if peak > 0 else 0.0 for s in scores],
                    "probs": [float(p) for p in bundle.predict_proba([text])[0]]})
    return out
