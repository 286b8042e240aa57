"""The SavedModel's tokenizer (TensorFlow ops) gives the app's token ids: on every
everyday sentence of :mod:`hard_strings`, for every tokenizer kind, and on the exotic
strings too but for the leftovers listed here (TensorFlow ops cannot express them).

These build only the tokenizers (no model, no export): the app's ``CheckpointTokenizer``
and the SavedModel's ``tf_preprocessor``, from the real MiniLM or from tiny vocabularies
that hold every character of the corpus, so that a different normalization shows as
other ids instead of hiding behind [UNK].
"""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest
from tests.core import text_presets

from desktop_ft.core.models.text import ARCHITECTURES, CheckpointTokenizer, hf_convert
from desktop_ft.core.models.text.hard_strings import (EVERYDAY_STRINGS, EXOTIC_STRINGS,
                                                      HARD_STRINGS)
from desktop_ft.core.models.text.tf_tokenizer import id_differences, tf_preprocessor

# What differs, per architecture, and why. A leftover that gets fixed must leave the list.
KNOWN = {
    # keras-hub's byte-level BPE ops stop at a NUL character.
    "roberta": {"control\x07char\ttab\r\nnewline\x00nul"},
    # ALBERT's NFKD splits Hangul syllables into jamo; SentencePiece's own NFKC map then
    # composes them again and HF's Precompiled step does not.
    "albert": {"한국어 문장입니다"},
}


def _bundle(tokenizer, arch, seq_len=64):
    """What tf_preprocessor and id_differences read of a model bundle."""
    return SimpleNamespace(modality=SimpleNamespace(arch=arch),
                           parts={"tokenizer": tokenizer}, spec=SimpleNamespace(seq_len=seq_len))


def _spm_proto(flavour: str) -> bytes:
    """A unigram model that knows every character of the corpus (not [UNK] for each)."""
    import sentencepiece

    out = io.BytesIO()
    sentences = text_presets.TEXTS + [t for t in HARD_STRINGS if t.strip()] * 3
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences), model_writer=out, vocab_size=300,
        model_type="unigram", hard_vocab_limit=False, character_coverage=1.0,
        num_threads=1, minloglevel=2, **text_presets.SPM_LAYOUTS[flavour])
    return out.getvalue()


def _wordpiece_vocab() -> dict:
    """The conformance tests' vocabulary plus every character the app's normalizer leaves
    in the corpus, whole and as a ``##`` continuation."""
    from tokenizers import normalizers

    norm = normalizers.BertNormalizer(lowercase=True)
    chars = sorted({c for t in HARD_STRINGS for c in norm.normalize_str(t) if not c.isspace()})
    vocab = [*text_presets.WORDPIECE_VOCAB, *chars, *("##" + c for c in chars)]
    return {t: i for i, t in enumerate(dict.fromkeys(vocab))}


def tiny_tokenizer(name: str) -> CheckpointTokenizer:
    """The app's tokenizer of a tiny checkpoint of architecture ``name``."""
    arch = ARCHITECTURES[name]
    proto = None
    if arch.tokenizer == "wordpiece":
        tok = hf_convert.wordpiece(_wordpiece_vocab(), lowercase=True, strip_accents=None,
                                   chinese_chars=True, specials=arch.specials)
    elif arch.tokenizer == "bpe":
        vocab, merges = text_presets.bpe_vocabulary()
        tok = hf_convert.byte_level_bpe(vocab, [tuple(m.split(" ")) for m in merges],
                                        add_prefix_space=False, specials=arch.specials)
    else:
        proto = _spm_proto(arch.spm_flavour)
        tok = hf_convert.sentencepiece(proto, arch.spm_flavour,
                                       lowercase=arch.spm_flavour == "albert",
                                       keep_accents=False)
    return CheckpointTokenizer(tok, f"tiny {name}", segment_ids=arch.segment_ids,
                               spm_proto=proto)


def differing_texts(tokenizer, arch) -> set[str]:
    bundle = _bundle(tokenizer, arch)
    return {d["text"] for d in id_differences(bundle, tf_preprocessor(bundle), HARD_STRINGS)}


def test_the_corpus_keeps_everyday_typography_apart_from_exotic_cases():
    everyday = "".join(EVERYDAY_STRINGS)
    for c in "’“”«»„–—…\u00a0\u202fßœ½ﬁＡ\u00ad\u200b":
        assert c in everyday, repr(c)
    assert not set(EVERYDAY_STRINGS) & set(EXOTIC_STRINGS)
    assert HARD_STRINGS == EVERYDAY_STRINGS + EXOTIC_STRINGS


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_savedmodel_tokenizer_gives_the_apps_ids(name):
    differs = differing_texts(tiny_tokenizer(name), ARCHITECTURES[name])
    assert not differs & set(EVERYDAY_STRINGS), sorted(differs)
    assert differs == KNOWN.get(name, set()), sorted(differs)


def test_wordpiece_with_a_sequence_normalizer():
    """A WordPiece checkpoint normalized by NFD, Lowercase, StripAccents (no
    BertNormalizer): the steps run in TF ops and Unicode spaces split words. Without
    clean_text Hugging Face keeps format and control characters inside a word, where
    keras-hub splits on them: only those texts differ."""
    import json

    from tokenizers import Tokenizer

    data = json.loads(tiny_tokenizer("bert").to_str())
    data["normalizer"] = {"type": "Sequence", "normalizers": [
        {"type": "NFD"}, {"type": "Lowercase"}, {"type": "StripAccents"}]}
    app = CheckpointTokenizer(Tokenizer.from_str(json.dumps(data)), "NFD + lowercase",
                              segment_ids=True)
    differs = differing_texts(app, ARCHITECTURES["bert"])
    assert differs == {t for t in HARD_STRINGS if any(c in t for c in "\u00ad\u200b\x07")}


@pytest.mark.large
def test_minilm_savedmodel_tokenizer_gives_the_apps_ids(minilm_folder):
    """The real WordPiece checkpoint (uncased: accents stripped, lowercased) and the
    same vocabulary cased (its normalizer's lowercase and strip_accents off)."""
    import json

    arch = ARCHITECTURES["bert"]
    app = CheckpointTokenizer.from_source(str(minilm_folder), arch)
    assert differing_texts(app, arch) == set()
    data = json.loads(app.to_str())
    data["normalizer"].update(lowercase=False, strip_accents=False)
    from tokenizers import Tokenizer

    cased = CheckpointTokenizer(Tokenizer.from_str(json.dumps(data)), "cased MiniLM",
                                segment_ids=True)
    assert differing_texts(cased, arch) == set()


def test_parity_figure_covers_the_texts_whose_ids_differ(monkeypatch, tmp_path):
    """The SavedModel's figure is over every text; the ones whose ids differ are also
    named with their own difference (it once left them out and read 0.0)."""
    import numpy as np

    from desktop_ft.core.export import parity

    app = np.array([[0.5, 0.5], [0.9, 0.1], [0.2, 0.8]], np.float32)
    saved = app + np.array([[0, 0], [-0.3, 0.3], [1e-6, -1e-6]], np.float32)

    class Exported:
        def __init__(self, folder, kind):
            assert kind == "text"

        def predict_proba(self, samples):
            return saved[:len(samples)]

    monkeypatch.setattr(parity, "ExportedModel", Exported)
    bundle = SimpleNamespace(input_kind="text", predict_proba=lambda samples: app)
    out = parity.measure_parity(bundle, tmp_path, ["a", "b", "c"], listed={1})
    assert out["max_abs_diff"] == pytest.approx(0.3, rel=1e-5) and out["samples"] == 3
    assert out["differs"] == [{"index": 1, "text": "b",
                               "max_abs_diff": pytest.approx(0.3, rel=1e-5)}]
    assert out["same_ids_max_abs_diff"] == pytest.approx(1e-6, abs=1e-6)


def test_export_lists_differing_texts_beside_a_figure_over_every_text(
        tiny_bert_preset, tmp_path, monkeypatch):
    """export.json's SavedModel figure counts every text checked; a text whose ids differ
    (here: reported so by a stand-in check) is listed beside it with its own figure."""
    import json

    from desktop_ft.core.export import export_model
    from desktop_ft.core.models import ModelSpec, load_model
    from desktop_ft.core.models.text import tf_tokenizer

    def one_differs(bundle, preprocessor, texts):
        return [{"index": 0, "text": texts[0], "app_ids": [1], "saved_model_ids": [2]}]
    monkeypatch.setattr(tf_tokenizer, "id_differences", one_differs)
    bundle = load_model(ModelSpec("bert", preset=str(tiny_bert_preset), seq_len=16,
                                  num_classes=3))
    record = export_model(bundle, tmp_path / "out", ["a", "b", "c"],
                          samples=["this is good"], formats="saved_model")
    assert record["parity_samples"] == record["tokenizer"]["saved_model_checked"]
    [listed] = record["parity_differs"]
    assert listed["index"] == 0 and listed["text"] == "this is good"
    assert listed["max_abs_diff"] <= record["parity_max_abs_diff"] < 1e-4
    assert record["parity_max_abs_diff_same_ids"] <= record["parity_max_abs_diff"]
    on_disk = json.loads((tmp_path / "out" / "export.json").read_text())
    assert on_disk["parity_differs"] == record["parity_differs"]
    assert "counts them" in (tmp_path / "out" / "README.md").read_text(encoding="utf-8")
