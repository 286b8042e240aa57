"""The tokenizer inside a text SavedModel: keras-hub's own preprocessor for the
architecture (tensorflow-text ops), set up from the checkpoint's tokenizer — its
vocabulary, merges or SentencePiece model — and fed by TensorFlow string ops that redo the
checkpoint's normalizer step by step (keras-hub's own lowercasing is NFKC case folding:
"…" → "...", "ß" → "ss", "½" → "1⁄2", which Hugging Face's BertNormalizer never does).

:func:`id_differences` measures where the two still disagree; the export lists those
cases in ``export.json`` and on the model card rather than differing silently.
"""

from __future__ import annotations

import json

from desktop_ft.core.errors import UserError


def tf_preprocessor(bundle):
    """A keras-hub ``<Arch>TextClassifierPreprocessor``: ``string [N]`` →
    ``token_ids``/``padding_mask`` (/``segment_ids``) of the bundle's sequence length."""
    import keras_hub

    from desktop_ft.core.models.text.build import require_tokenizer

    arch = bundle.family_impl.arch
    tok = require_tokenizer(bundle)
    data = json.loads(tok.to_str())
    tokenizer_cls = getattr(keras_hub.models, arch.backbone.replace("Backbone", "Tokenizer"))
    if arch.tokenizer == "wordpiece":
        if data["model"]["type"] != "WordPiece":
            raise UserError(f"The checkpoint's tokenizer is {data['model']['type']}, not "
                            "WordPiece: the SavedModel cannot hold it.")
        # Every normalizer step runs first in TF ops (_wordpiece_steps): keras-hub's
        # own switches would NFKC-casefold and split CJK on other ranges.
        kh = tokenizer_cls(vocabulary=tok.vocabulary(), lowercase=False,
                           strip_accents=False, split_on_cjk=False)
    elif arch.tokenizer == "bpe":
        model = data["model"]
        merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
        kh = tokenizer_cls(vocabulary=dict(model["vocab"]), merges=merges)
    else:
        if tok.spm_proto is None:
            raise UserError("The SavedModel's tokenizer needs the checkpoint's SentencePiece "
                            "model file, which this source does not have.")
        kh = tokenizer_cls(proto=tok.spm_proto)
    preprocessor_cls = getattr(keras_hub.models, arch.classifier + "Preprocessor")
    preprocessor = preprocessor_cls(kh, sequence_length=bundle.spec.seq_len)
    preprocessor.build(None)
    steps = _wordpiece_steps(data) if arch.tokenizer == "wordpiece" else \
        _normalizer_steps(data) if arch.tokenizer == "spm" else []
    return _normalized(preprocessor, steps) if steps else preprocessor


# Hugging Face's is_chinese_char ranges (one differs from keras-hub's: 0x2B920, not 0x2B820).
_CJK = (r"[\x{4E00}-\x{9FFF}\x{3400}-\x{4DBF}\x{20000}-\x{2A6DF}\x{2A700}-\x{2B73F}"
        r"\x{2B740}-\x{2B81F}\x{2B920}-\x{2CEAF}\x{F900}-\x{FAFF}\x{2F800}-\x{2FA1F}]")


def _wordpiece_steps(data: dict) -> list:
    """TensorFlow string ops for Hugging Face's BertNormalizer, in its order: clean_text,
    CJK spacing, accent stripping (where the checkpoint strips), lowercasing. keras-hub
    then splits on whitespace and BERT's punctuation, as BertPreTokenizer does, since
    every other space and control character is gone by then."""
    import tensorflow as tf
    import tensorflow_text as tf_text

    norm = data.get("normalizer") or {}
    if norm.get("type") != "BertNormalizer":
        return _normalizer_steps(data)

    def replace(pattern, rewrite):
        return lambda t: tf.strings.regex_replace(t, pattern, rewrite)
    lowercase = bool(norm.get("lowercase", True))
    strip = lowercase if norm.get("strip_accents") is None else bool(norm["strip_accents"])
    out = []
    if norm.get("clean_text", True):
        # Rust drops \0, U+FFFD and Cc/Cf/Co except \t\n\r (so \x0b and U+0085 go
        # too), then maps what is left of White_Space (Zs, Zl, Zp) to ' '. RE2's \p{C}
        # is Cc|Cf|Co|Cs; unassigned code points (Cn) stay in both.
        out += [replace(r"[\t\n\r]", " "), replace(r"[\x{FFFD}\p{C}]", ""),
                replace(r"\p{Z}", " ")]
    if norm.get("handle_chinese_chars", True):
        out.append(replace(_CJK, r" \0 "))
    if strip:
        out += [lambda t: tf_text.normalize_utf8(t, "NFD"), replace(r"\p{Mn}", "")]
    if lowercase:
        out.append(_lowercase)
    return out


def _lowercase(texts):
    """Lowercasing as Hugging Face's Rust code does it: one character at a time (ΟΔΟΣ →
    οδοσ, where ICU's ``lower()`` gives a word-final ς), without compatibility folding,
    and past a NUL (``tf.strings.lower`` stops at the first one)."""
    import tensorflow as tf

    texts = tf.strings.regex_replace(texts, "Σ", "σ")
    parts = tf.strings.lower(tf.strings.split(texts, "\x00"), encoding="utf-8")
    # (A "\x00" separator attribute is cut at its NUL too; a tensor value is not.)
    joined = tf.strings.reduce_join(parts + tf.constant("\x00"), axis=-1)
    length = tf.maximum(tf.strings.length(joined) - 1, 0)
    return tf.strings.substr(joined, tf.zeros_like(length), length)


def _normalizer_steps(data: dict) -> list:
    """TensorFlow string ops for the app's normalizer steps that come before the
    SentencePiece model's own normalization (``Precompiled``, which the TF op applies
    itself): ALBERT's quote replacement, accent stripping and lowercasing. keras-hub's
    AlbertTokenizer runs none of them, so without these an uncased ALBERT SavedModel
    tokenized "The" unlike the app (and unlike the vocabulary it was trained with)."""
    import re

    import tensorflow as tf
    import tensorflow_text as tf_text

    norm = data.get("normalizer") or {}
    steps = norm.get("normalizers", []) if norm.get("type") == "Sequence" else [norm]
    out = []
    for step in steps:
        kind = step.get("type")
        if kind == "Precompiled":
            break
        if kind == "Replace" and "String" in step.get("pattern", {}):
            out.append(lambda t, a=re.escape(step["pattern"]["String"]), b=step["content"]:
                       tf.strings.regex_replace(t, a, b))
        elif kind == "NFKD":
            out.append(lambda t: tf_text.normalize_utf8(t, "NFKD"))
        elif kind == "StripAccents":
            out.append(lambda t: tf.strings.regex_replace(t, r"\p{Mn}", ""))
        elif kind == "Lowercase":
            out.append(_lowercase)
        # Strip and runs of spaces: SentencePiece's own normalization does the same.
    return out


def _normalized(preprocessor, steps):
    """``preprocessor`` after ``steps``: a ``tf.Module``, so that the export archive
    tracks the preprocessor's resources through it."""
    import tensorflow as tf

    class Normalized(tf.Module):
        def __init__(self):
            super().__init__(name="normalized_preprocessor")
            self.preprocessor = preprocessor

        def __call__(self, texts):
            for step in steps:
                texts = step(texts)
            return self.preprocessor(texts)
    return Normalized()


def id_differences(bundle, preprocessor, texts) -> list[dict]:
    """The texts whose token ids differ between the app and ``preprocessor``, each with
    its index in ``texts`` and both id lists (padding left out)."""
    import numpy as np
    import tensorflow as tf

    from desktop_ft.core.models.text.build import require_tokenizer

    texts = [str(t) for t in texts]
    if not texts:
        return []
    app = require_tokenizer(bundle).encode(texts, bundle.spec.seq_len)
    saved = preprocessor(tf.constant(texts))
    out = []
    for i, text in enumerate(texts):
        a = app["token_ids"][i][app["padding_mask"][i] > 0]
        s = np.asarray(saved["token_ids"][i])[np.asarray(saved["padding_mask"][i]) > 0]
        if a.shape != s.shape or not np.array_equal(a, s):
            out.append({"index": i, "text": text[:200], "app_ids": [int(v) for v in a[:64]],
                        "saved_model_ids": [int(v) for v in s[:64]]})
    return out
