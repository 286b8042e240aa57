"""Tiny keras-hub preset folders, one per text architecture, made in-process (no
downloads): each with a tokenizer of its architecture's own kind, built as keras-hub's
tests build theirs — a WordPiece vocabulary list, a byte-level BPE vocabulary and merges,
or a SentencePiece unigram model trained on :data:`CORPUS` — and a 2-layer backbone of
its tiny configuration (:data:`TINY_CONFIGS`, hidden 8) sized to that tokenizer.

Example:
    >>> folder = make_preset(ARCHITECTURES["albert"], tmp_path / "albert")
    >>> load_model(ModelSpec("albert", preset=str(folder), seq_len=16, num_classes=2))
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

SEQ_LEN = 16

_TINY = {"num_layers": 2, "num_heads": 2, "hidden_dim": 8, "intermediate_dim": 16,
         "max_sequence_length": 32}
# Each text row's tiny configuration (2 layers, hidden 8); the vocabulary size is the
# test tokenizer's.
TINY_CONFIGS = {
    "bert": {"vocabulary_size": 64, **_TINY},
    "distilbert": {"vocabulary_size": 64, **_TINY},
    "roberta": {"vocabulary_size": 64, **_TINY},
    "xlm_roberta": {"vocabulary_size": 64, **_TINY},
    "albert": {"vocabulary_size": 64, **_TINY, "embedding_dim": 4, "num_groups": 1,
               "num_inner_repetitions": 1},
    "deberta_v3": {"vocabulary_size": 64, **_TINY, "bucket_size": 4},
}
POS = ("good", "great", "fine", "happy", "love", "nice")
NEG = ("bad", "awful", "sad", "hate", "poor", "ugly")
FILLER = ("this", "is", "a", "the", "film", "very")


def _corpus() -> list[tuple[str, str]]:
    """24 short lowercase ASCII sentences, labelled ``pos``/``neg`` (alternating)."""
    rng = np.random.default_rng(7)
    rows = []
    for i in range(24):
        label = ("pos", "neg")[i % 2]
        words = list(rng.choice(POS if label == "pos" else NEG, size=int(rng.integers(2, 5))))
        end = ("", ".", "!", ",")[i % 4]
        rows.append((" ".join(["this", "is", *words]) + end, label))
    return rows


CORPUS = _corpus()
TEXTS = [t for t, _ in CORPUS]

WORDPIECE_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *FILLER, *POS, *NEG,
                   ".", ",", "!", "##s", "##ly"]


def write_csv(path: Path) -> Path:
    """``text,label`` rows of :data:`CORPUS`."""
    path.write_text("text,label\n" + "".join(f'"{t}",{y}\n' for t, y in CORPUS))
    return path


def _byte_level_chars() -> list[str]:
    """GPT-2's printable stand-ins for the 256 bytes (keras-hub's bytes_to_unicode)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def bpe_vocabulary() -> tuple[dict[str, int], list[str]]:
    """RoBERTa's specials, every byte, and each corpus word merged left to right (with and
    without the leading-space marker ``Ġ``)."""
    vocab = {t: i for i, t in enumerate(("<s>", "<pad>", "</s>", "<unk>"))}
    for c in _byte_level_chars():
        vocab.setdefault(c, len(vocab))
    merges: list[str] = []
    for word in (*FILLER, *POS, *NEG):
        for form in ("Ġ" + word, word):
            left = form[0]
            for c in form[1:]:
                merge = f"{left} {c}"
                if merge not in merges:
                    merges.append(merge)
                left += c
                vocab.setdefault(left, len(vocab))
    vocab["<mask>"] = len(vocab)
    return vocab, merges


# SentencePiece's special pieces as each architecture's real checkpoint lays them out.
SPM_LAYOUTS = {
    # fairseq's model: <unk> <s> </s>; keras-hub and Hugging Face shift ids by one and put
    # <pad> at 1 and <mask> last.
    "xlm_roberta": {"unk_id": 0, "bos_id": 1, "eos_id": 2, "pad_id": -1},
    "albert": {"pad_id": 0, "unk_id": 1, "bos_id": 2, "eos_id": 3, "pad_piece": "<pad>",
               "unk_piece": "<unk>", "bos_piece": "[CLS]", "eos_piece": "[SEP]",
               "user_defined_symbols": "[MASK]"},
    # [MASK] is not in DeBERTa-v3's model: the tokenizers append it after the pieces.
    "deberta_v3": {"pad_id": 0, "bos_id": 1, "eos_id": 2, "unk_id": 3, "pad_piece": "[PAD]",
                   "bos_piece": "[CLS]", "eos_piece": "[SEP]", "unk_piece": "[UNK]"},
}


def spm_proto(flavour: str, vocab_size: int = 48) -> bytes:
    """A SentencePiece unigram model trained on the corpus (and its words alone)."""
    import sentencepiece

    out = io.BytesIO()
    sentences = TEXTS + [" ".join((*FILLER, *POS, *NEG))] * 4
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences), model_writer=out, vocab_size=vocab_size,
        model_type="unigram", hard_vocab_limit=False, minloglevel=2,
        **SPM_LAYOUTS[flavour])
    return out.getvalue()


def make_tokenizer(arch):
    import keras_hub

    cls = getattr(keras_hub.models, arch.backbone.replace("Backbone", "Tokenizer"))
    if arch.tokenizer == "wordpiece":
        return cls(vocabulary=WORDPIECE_VOCAB, lowercase=True)
    if arch.tokenizer == "bpe":
        vocab, merges = bpe_vocabulary()
        return cls(vocabulary=vocab, merges=merges)
    return cls(proto=spm_proto(arch.spm_flavour))


def make_preset(arch, folder: Path) -> Path:
    """``folder`` as a keras-hub preset: the tiny classifier with its preprocessor. Its
    random weights are seeded, so that they do not depend on which tests ran before in
    the process (a tiny BERT drawn after others once explained no word at all)."""
    import keras
    import keras_hub

    keras.utils.set_random_seed(0)
    tokenizer = make_tokenizer(arch)
    config = {**TINY_CONFIGS[arch.name], "vocabulary_size": tokenizer.vocabulary_size()}
    backbone = getattr(keras_hub.models, arch.backbone)(**config)
    preprocessor = getattr(keras_hub.models, arch.classifier + "Preprocessor")(
        tokenizer, sequence_length=SEQ_LEN)
    classifier = getattr(keras_hub.models, arch.classifier)(
        backbone=backbone, num_classes=2, preprocessor=preprocessor)
    classifier.save_to_preset(str(folder))
    return folder
