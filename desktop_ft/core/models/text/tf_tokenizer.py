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

from desktop_ft.core import compat
from desktop_ft.core.errors import UserError


def tf_preprocessor(bundle):
    """A keras-hub ``<Arch>TextClassifierPreprocessor``: ``string [N]`` →
    ``token_ids``/``padding_mask`` (/``segment_ids``) of the bundle's sequence length."""
    import keras_hub

    from desktop_ft.core.models.text.build import require_tokenizer

    arch = bundle.modality.arch
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
        # Words of up to N characters are pieced (_long_words_unknown makes longer
        # ones [UNK]), not of up to 100 bytes.
        compat.keras_hub_wordpiece_max_bytes(kh, 4 * _max_word_chars(data))
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
    finish = _trailing_space_piece(data, tok) if arch.tokenizer == "spm" else None
    return _normalized(preprocessor, steps, finish) if steps or finish else preprocessor


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
        # BertPreTokenizer splits on every Unicode space; keras-hub on ASCII ones only.
        spaces = lambda t: tf.strings.regex_replace(t, r"[\t-\r\x{85}\p{Z}]", " ")  # noqa: E731
        return [spaces, *_normalizer_steps(data), _long_words_unknown(data)]

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
    return out + [_long_words_unknown(data)]


def _max_word_chars(data: dict) -> int:
    return int(data["model"].get("max_input_chars_per_word") or 100)


def _long_words_unknown(data: dict):
    """Hugging Face's WordPiece makes a word of more than ``max_input_chars_per_word``
    characters one [UNK]: such a word (between the spaces, controls and punctuation
    keras-hub splits on) becomes one character the vocabulary lacks. (One regex with a
    counted repeat of that class overflows RE2's DFA.)"""
    import tensorflow as tf
    import tensorflow_text as tf_text

    vocab = set(data["model"]["vocab"])
    stand_in = next(chr(c) for c in range(0xE000, 0xF900) if chr(c) not in vocab)
    limit = _max_word_chars(data)
    punctuation = r"[!-/:-@\[-`{-~]|\p{P}"

    def step(texts):
        words = tf_text.regex_split(texts, rf"\s|\p{{Cc}}|\p{{Cf}}|{punctuation}",
                                    punctuation)
        words = tf.ragged.map_flat_values(
            lambda w: tf.where(tf.strings.length(w, unit="UTF8_CHAR") > limit, stand_in, w),
            words)
        return tf.strings.reduce_join(words, axis=-1, separator=" ")
    return step


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
        elif kind in ("NFC", "NFD", "NFKC", "NFKD"):
            out.append(lambda t, form=kind: tf_text.normalize_utf8(t, form))
        elif kind == "StripAccents":
            out.append(lambda t: tf.strings.regex_replace(t, r"\p{Mn}", ""))
        elif kind == "Lowercase":
            out.append(_lowercase)
        # Strip and runs of spaces: SentencePiece's own normalization does the same.
    return out


def _trailing_space_piece(data: dict, tok):
    """Hugging Face's Metaspace gives text that ends in a space (whitespace-only text too)
    one more piece, a lone "▁"; the SentencePiece op strips that space. The returned
    ``finish(texts, outputs)`` puts the piece back before the end token, unless the ids
    were already cut to length. A space is what the checkpoint's character map turns
    into one (U+200B too), even when characters the map drops follow it."""
    import tensorflow as tf

    norm = data.get("normalizer") or {}
    steps = norm.get("normalizers", []) if norm.get("type") == "Sequence" else [norm]
    charsmap = next((step.get("precompiled_charsmap") for step in steps
                     if step.get("type") == "Precompiled"), None)
    if (data.get("pre_tokenizer") or {}).get("type") != "Metaspace" or not charsmap:
        return None
    spaces, dropped = _charsmap_spaces(charsmap)
    ends_in_space = rf"(?s).*{spaces}{dropped}*" if dropped else rf"(?s).*{spaces}"
    white = r"[\t-\r\x{85}\p{Z}]"          # Unicode White_Space, as Rust's trim()
    strip = any(step.get("type") == "Strip" for step in steps)
    vocab = tok.vocabulary()
    piece = vocab.index("▁") if "▁" in vocab else int(data["model"].get("unk_id") or 0)

    def finish(texts, x):
        ids, mask = x["token_ids"], x["padding_mask"]
        if strip:
            texts = tf.strings.regex_replace(texts, rf"^{white}+|{white}+$", "")
        used = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1, keepdims=True)
        add = tf.strings.regex_full_match(texts, ends_in_space)[:, None] & \
            (used < tf.shape(ids)[1])
        pos = tf.range(tf.shape(ids)[1])[None, :]
        end = tf.gather(ids, used - 1, batch_dims=1)
        ids = tf.where(add & (pos == used - 1), tf.constant(piece, ids.dtype), ids)
        ids = tf.where(add & (pos == used), end, ids)
        grown = tf.cast(add & (pos == used), mask.dtype)
        return {**x, "token_ids": ids, "padding_mask": mask | grown if mask.dtype == tf.bool
                else mask + grown}
    return finish


def _charsmap_spaces(charsmap: str) -> tuple[str, str]:
    """RE2 classes of the characters a SentencePiece character map (base64, as
    tokenizer.json holds it) turns into spaces and of those it drops, found by running
    Hugging Face's own Precompiled step on each (the Basic Multilingual Plane and the
    tag characters: nmt_nfkc maps nothing else to a space or to nothing)."""
    import base64

    from tokenizers import normalizers

    step = normalizers.Precompiled(base64.b64decode(charsmap))
    found: dict[str, list[int]] = {"space": [], "dropped": []}
    for c in [*range(0xD800), *range(0xE000, 0x10000), *range(0xE0000, 0xE0080)]:
        out = step.normalize_str(chr(c))
        if out == "":
            found["dropped"].append(c)
        elif out.strip(" ") == "":
            found["space"].append(c)

    def char_class(points):
        runs: list[list[int]] = []
        for c in points:
            if runs and runs[-1][1] == c - 1:
                runs[-1][1] = c
            else:
                runs.append([c, c])
        return "[" + "".join(rf"\x{{{a:X}}}" + (rf"-\x{{{b:X}}}" if b > a else "")
                             for a, b in runs) + "]" if runs else ""
    return char_class(found["space"]) or "[ ]", char_class(found["dropped"])


def _normalized(preprocessor, steps, finish=None):
    """``preprocessor`` after ``steps`` (and ``finish(texts, outputs)`` on its outputs): a
    ``tf.Module``, so that the export archive tracks the preprocessor's resources
    through it."""
    import tensorflow as tf

    class Normalized(tf.Module):
        def __init__(self):
            super().__init__(name="normalized_preprocessor")
            self.preprocessor = preprocessor

        def __call__(self, texts):
            for step in steps:
                texts = step(texts)
            out = self.preprocessor(texts)
            return finish(texts, out) if finish else out
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
    # Traced, as in the SavedModel: called eagerly, keras-hub's layers take their
    # pure-Python path instead of the TensorFlow ops the SavedModel holds.
    saved = tf.function(preprocessor)(tf.constant(texts))
    out = []
    for i, text in enumerate(texts):
        a = app["token_ids"][i][app["padding_mask"][i] > 0]
        s = np.asarray(saved["token_ids"][i])[np.asarray(saved["padding_mask"][i]) > 0]
        if a.shape != s.shape or not np.array_equal(a, s):
            out.append({"index": i, "text": text[:200], "app_ids": [int(v) for v in a[:64]],
                        "saved_model_ids": [int(v) for v in s[:64]]})
    return out
