"""The tokenizer inside a text SavedModel: keras-hub's own preprocessor for the
architecture (tensorflow-text ops), set up from the checkpoint's tokenizer — its
vocabulary, merges or SentencePiece model, and its lowercasing and accent switches.

TensorFlow's ops do not reproduce every rule of Hugging Face's tokenizers (case folding
is NFKC-based there, for one). :func:`id_differences` measures where the two disagree;
the export lists those cases in ``export.json`` and on the model card rather than
differing silently.
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
        norm = data.get("normalizer") or {}
        lowercase = strip = False
        cjk = True
        if norm.get("type") == "BertNormalizer":
            lowercase = bool(norm.get("lowercase"))
            strip = lowercase if norm.get("strip_accents") is None else \
                bool(norm["strip_accents"])
            cjk = bool(norm.get("handle_chinese_chars", True))
        kh = tokenizer_cls(vocabulary=tok.vocabulary(), lowercase=lowercase,
                           strip_accents=strip, split_on_cjk=cjk)
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
    return preprocessor


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
