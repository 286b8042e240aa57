"""Text models for ONNX and LiteRT: token ids and padding mask in, probabilities out; the
tokenizer beside them as the checkpoint's own Hugging Face ``tokenizer.json`` (set to
truncate and pad to the model's sequence length)."""

from __future__ import annotations

from pathlib import Path

from desktop_ft.core.models.shared import probs_model


def raw_input_model(bundle):
    """A Keras model: ``token_ids``, ``padding_mask`` (int32 ``[N, L]``) → ``probs``."""
    import keras
    import numpy as np

    length = bundle.spec.seq_len
    ids = keras.Input((length,), dtype="int32", name="token_ids")
    mask = keras.Input((length,), dtype="int32", name="padding_mask")
    inputs = {"token_ids": ids, "padding_mask": mask}
    if bundle.modality.arch.segment_ids:
        inputs["segment_ids"] = keras.layers.Lambda(lambda t: keras.ops.zeros_like(t),
                                                    name="segments")(ids)
    wrapper = probs_model(bundle, [ids, mask], inputs, "token_ids_to_probs")
    zeros = np.zeros((1, length), np.int32)
    wrapper([zeros, zeros + 1])
    return wrapper


def format_inputs(bundle, texts) -> dict:
    """Strings → ``{"token_ids", "padding_mask"}`` (int32), tokenized as the app does."""
    from desktop_ft.core.models.text.build import require_tokenizer

    x = require_tokenizer(bundle).encode(texts, bundle.spec.seq_len)
    return {"token_ids": x["token_ids"], "padding_mask": x["padding_mask"]}


def write_tokenizer_json(bundle, path: Path) -> None:
    """The checkpoint's tokenizer, truncating and padding to the sequence length."""
    from desktop_ft.core.models.text.build import require_tokenizer

    require_tokenizer(bundle).save(path, bundle.spec.seq_len)
