"""Token importance for BERT: gradient × input on the token embeddings.

The classifier's forward pass is replayed layer by layer (the same layer objects, LoRA
and int8 included) so the token embeddings can be watched; a token's score is
|Σ_h ∂log p(class)/∂e_h · e_h| over its embedding e, normalised to a maximum of 1.
Special tokens and padding are left out.
"""

from __future__ import annotations


def _forward(model, token_embeddings, segment_ids, padding_mask):
    backbone = model.backbone
    positions = backbone.position_embedding(token_embeddings)
    segments = backbone.segment_embedding(segment_ids)
    x = backbone.embeddings_add((token_embeddings, positions, segments))
    x = backbone.embeddings_layer_norm(x)
    for layer in backbone.transformer_layers:
        x = layer(x, padding_mask=padding_mask, training=False)
    pooled = backbone.pooled_dense(x[:, backbone.cls_token_index, :])
    return model.get_layer("logits")(pooled)


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
        with tf.GradientTape() as tape:
            emb = model.backbone.token_embedding(ids)
            tape.watch(emb)
            raw = tf.cast(_forward(model, emb, x["segment_ids"], x["padding_mask"]),
                          tf.float32)
            probs = tf.concat([1.0 - raw, raw], axis=-1) if bundle.binary else raw
            c = int(tf.argmax(probs[0]))
            score = tf.math.log(probs[0, c] + 1e-9)
        grads = tape.gradient(score, emb)
        relevance = np.abs(np.asarray(tf.reduce_sum(grads * emb, axis=-1))[0])
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
                    "probs": np.asarray(probs[0], dtype=np.float32).tolist()})
    return out
