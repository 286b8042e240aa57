"""BERT for ONNX and LiteRT: token ids and padding mask in, probabilities out; the
tokenizer as a Hugging Face ``tokenizer.json``."""

from __future__ import annotations

from pathlib import Path

from desktop_ft.core.models.base import probs_from_output


def raw_input_model(bundle):
    """A Keras model: ``token_ids``, ``padding_mask`` (int32 ``[N, L]``) → ``probs``."""
    import keras
    import numpy as np

    length = bundle.spec.seq_len
    ids = keras.Input((length,), dtype="int32", name="token_ids")
    mask = keras.Input((length,), dtype="int32", name="padding_mask")
    segments = keras.layers.Lambda(lambda t: keras.ops.zeros_like(t), name="segments")(ids)
    raw = bundle.model({"token_ids": ids, "segment_ids": segments, "padding_mask": mask},
                       training=False)
    out = keras.layers.Lambda(lambda t: probs_from_output(keras, t, bundle.binary),
                              name="probs")(raw)
    wrapper = keras.Model([ids, mask], out, name="token_ids_to_probs")
    zeros = np.zeros((1, length), np.int32)
    wrapper([zeros, zeros + 1])
    return wrapper


def format_inputs(bundle, texts) -> dict:
    """Strings → ``{"token_ids", "padding_mask"}`` (int32), tokenized by the model."""
    import numpy as np
    import tensorflow as tf

    x = bundle.model.preprocessor(tf.constant(list(texts)))
    return {"token_ids": np.asarray(x["token_ids"], np.int32),
            "padding_mask": np.asarray(x["padding_mask"], np.int32)}


def write_tokenizer_json(bundle, path: Path) -> None:
    """The model's WordPiece tokenizer in Hugging Face ``tokenizers`` format: same
    vocabulary, lowercasing, [CLS]/[SEP], padding and truncation to the sequence length."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    kh = bundle.model.preprocessor.tokenizer
    vocab = {token: i for i, token in enumerate(kh.get_vocabulary())}
    tok = Tokenizer(models.WordPiece(vocab, unk_token=kh.oov_token, max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                                strip_accents=None, lowercase=kh.lowercase)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    cls, sep = kh.cls_token, kh.sep_token
    tok.post_processor = processors.TemplateProcessing(
        single=f"{cls} $A {sep}", pair=f"{cls} $A {sep} $B:1 {sep}:1",
        special_tokens=[(cls, vocab[cls]), (sep, vocab[sep])])
    tok.decoder = decoders.WordPiece()
    length = bundle.spec.seq_len
    tok.enable_truncation(max_length=length)
    tok.enable_padding(length=length, pad_id=vocab[kh.pad_token], pad_token=kh.pad_token)
    tok.save(str(path))
