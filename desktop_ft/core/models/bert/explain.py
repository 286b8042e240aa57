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
    import tensorflow as tf

    pooled = tf.cast(pooled, output.kernel.dtype)
    return tf.cast(tf.matmul(pooled, output.kernel) + output.bias, tf.float32)


def token_importance(bundle, texts) -> list[dict]:
    import numpy as np
    import tensorflow as tf

    model = bundle.model
    preprocessor = model.preprocessor
    tokenizer = preprocessor.tokenizer
    special = {tokenizer.cls_token, tokenizer.sep_token, tokenizer.pad_token}
    out = []
    for text in texts:
        x = preprocessor(tf.constant([text]))
        ids = x["token_ids"]
        emb = tf.cast(model.backbone.token_embedding(ids), tf.float32)
        base = tf.cast(model.backbone.token_embedding(
            tf.fill(tf.shape(ids), tokenizer.pad_token_id)), tf.float32)
        segments = tf.repeat(x["segment_ids"], STEPS, axis=0)
        mask = tf.repeat(x["padding_mask"], STEPS, axis=0)
        logits = _forward(model, emb, x["segment_ids"], x["padding_mask"])
        if bundle.binary:   # one sigmoid unit: the logit of class 1, its negation for 0
            logits = tf.concat([-logits, logits], axis=-1)
        c = int(tf.argmax(logits[0]))
        alphas = tf.reshape(tf.linspace(1.0 / STEPS, 1.0, STEPS), (STEPS, 1, 1))
        with tf.GradientTape() as tape:
            path = base + alphas * (emb - base)
            tape.watch(path)
            z = _forward(model, tf.cast(path, emb.dtype), segments, mask)
            if bundle.binary:
                z = tf.concat([-z, z], axis=-1)
            score = tf.reduce_sum(z[:, c])
        grads = tf.reduce_mean(tape.gradient(score, path), axis=0)
        # Evidence for the predicted class: words that argue against it score 0.
        relevance = np.maximum(np.asarray(tf.reduce_sum(grads * (emb - base)[0], axis=-1)),
                               0.0)
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
