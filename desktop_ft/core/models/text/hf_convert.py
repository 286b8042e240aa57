"""A ``tokenizers.Tokenizer`` from a checkpoint's slow-tokenizer files, built the way
Hugging Face's ``convert_slow_tokenizer`` builds the fast tokenizer of each architecture
(so a folder without ``tokenizer.json`` tokenizes as one with it would):

* WordPiece (BERT, DistilBERT): ``vocab.txt`` + ``tokenizer_config.json``;
* byte-level BPE (RoBERTa): ``vocab.json`` + ``merges.txt``;
* SentencePiece unigram (ALBERT, DeBERTa-v3, XLM-RoBERTa): the ``.model`` file, with
  each architecture's normalizer and special tokens.

keras-hub presets hold the same material under ``assets/tokenizer/``
(:func:`from_keras_hub_assets`).
"""

from __future__ import annotations

import json
from pathlib import Path

from desktop_ft.core.errors import UserError

PAD_NAMES = ("[PAD]", "<pad>")
SPM_FILES = ("spiece.model", "sentencepiece.bpe.model", "spm.model", "tokenizer.model")


def _config(folder: Path) -> dict:
    path = folder / "tokenizer_config.json"
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise UserError(f"{path} is not valid JSON ({e}).") from None


def from_slow_files(folder: Path, arch):
    """(tokenizer, "the files it came from") for a Hugging Face folder without
    ``tokenizer.json``; a clear error when the folder has no tokenizer at all."""
    config = _config(folder)
    if arch.tokenizer == "wordpiece" and (folder / "vocab.txt").is_file():
        vocab = _read_vocab_txt(folder / "vocab.txt")
        return wordpiece(vocab, lowercase=config.get("do_lower_case", True),
                         strip_accents=config.get("strip_accents"),
                         chinese_chars=config.get("tokenize_chinese_chars", True),
                         specials=_specials(config, arch)), \
            "vocab.txt + tokenizer_config.json"
    if arch.tokenizer == "bpe" and (folder / "vocab.json").is_file() and \
            (folder / "merges.txt").is_file():
        vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
        merges = _read_merges((folder / "merges.txt").read_text(encoding="utf-8"))
        return byte_level_bpe(vocab, merges, add_prefix_space=config.get(
            "add_prefix_space", False), specials=_specials(config, arch)), \
            "vocab.json + merges.txt"
    if arch.tokenizer == "spm":
        spm = next((folder / n for n in SPM_FILES if (folder / n).is_file()), None)
        if spm is not None:
            return sentencepiece(spm.read_bytes(), arch.spm_flavour,
                                 lowercase=config.get("do_lower_case",
                                                      arch.spm_flavour == "albert"),
                                 keep_accents=config.get("keep_accents", False),
                                 split_by_punct=config.get("split_by_punct", False)), spm.name
    wanted = {"wordpiece": "vocab.txt", "bpe": "vocab.json + merges.txt",
              "spm": "a SentencePiece model (spiece.model, sentencepiece.bpe.model, …)"}
    raise UserError(f"{folder} has no tokenizer: expected tokenizer.json or "
                    f"{wanted[arch.tokenizer]}.")


def from_keras_hub_assets(get_file, config: dict, arch):
    """A keras-hub preset's tokenizer (``get_file(name)`` → local path)."""
    if arch.tokenizer == "wordpiece":
        vocab = _read_vocab_txt(Path(get_file("assets/tokenizer/vocabulary.txt")))
        return wordpiece(vocab, lowercase=bool(config.get("lowercase", False)),
                         strip_accents=bool(config.get("strip_accents", False)),
                         chinese_chars=bool(config.get("split_on_cjk", True)),
                         specials=arch.specials)
    if arch.tokenizer == "bpe":
        vocab = json.loads(Path(get_file("assets/tokenizer/vocabulary.json")).read_text(
            encoding="utf-8"))
        merges = _read_merges(Path(get_file("assets/tokenizer/merges.txt")).read_text(
            encoding="utf-8"))
        return byte_level_bpe(vocab, merges, add_prefix_space=False, specials=arch.specials)
    proto = Path(get_file("assets/tokenizer/vocabulary.spm")).read_bytes()
    return sentencepiece(proto, arch.spm_flavour, lowercase=arch.spm_flavour == "albert",
                         keep_accents=False)


def _specials(config: dict, arch) -> tuple[str, str, str, str, str]:
    """(cls, sep, pad, unk, mask) names, as the tokenizer config spells them."""
    names = ("cls_token", "sep_token", "pad_token", "unk_token", "mask_token")

    def name(value, default):
        if isinstance(value, dict):      # an AddedToken serialised by transformers
            value = value.get("content")
        return value if isinstance(value, str) else default
    return tuple(name(config.get(n), d) for n, d in zip(names, arch.specials))


def _read_vocab_txt(path: Path) -> dict[str, int]:
    vocab: dict[str, int] = {}
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f):
            token = line.rstrip("\n")
            vocab.setdefault(token, i)
    return vocab


def _read_merges(text: str) -> list[tuple[str, str]]:
    merges = []
    for line in text.splitlines():
        if not line or line.startswith("#version"):
            continue
        a, _, b = line.partition(" ")
        merges.append((a, b))
    return merges


def _special_tokens(tok, names, vocab) -> None:
    from tokenizers import AddedToken

    tok.add_special_tokens([AddedToken(n, special=True, normalized=False,
                                       lstrip=n == "<mask>")
                            for n in names if n in vocab])


def _missing(names, vocab) -> None:
    gone = [n for n in names[:3] if n not in vocab]
    if gone:
        raise UserError(f"The vocabulary has no {', '.join(gone)} token(s) the model needs.")


def wordpiece(vocab: dict, *, lowercase: bool, strip_accents, chinese_chars: bool,
              specials):
    """BERT's tokenizer (Hugging Face's BertConverter)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    cls, sep, pad, unk, mask = specials
    _missing((cls, sep, pad), vocab)
    tok = Tokenizer(models.WordPiece(vocab, unk_token=unk, max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=chinese_chars,
        strip_accents=strip_accents, lowercase=lowercase)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single=f"{cls}:0 $A:0 {sep}:0", pair=f"{cls}:0 $A:0 {sep}:0 $B:1 {sep}:1",
        special_tokens=[(cls, vocab[cls]), (sep, vocab[sep])])
    tok.decoder = decoders.WordPiece(prefix="##")
    _special_tokens(tok, (pad, unk, cls, sep, mask), vocab)
    return tok


def byte_level_bpe(vocab: dict, merges, *, add_prefix_space: bool, specials):
    """RoBERTa's tokenizer (Hugging Face's RobertaConverter)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors

    cls, sep, pad, unk, mask = specials
    _missing((cls, sep, pad), vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, dropout=None,
                               continuing_subword_prefix="", end_of_word_suffix="",
                               fuse_unk=False))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=add_prefix_space)
    tok.decoder = decoders.ByteLevel()
    # tokenizers takes sep and cls by position only (as keywords: TypeError).
    tok.post_processor = processors.RobertaProcessing(
        (sep, vocab[sep]), (cls, vocab[cls]), trim_offsets=True,
        add_prefix_space=add_prefix_space)
    _special_tokens(tok, (cls, pad, sep, unk, mask), vocab)
    return tok


def sentencepiece(proto_bytes: bytes, flavour: str, *, lowercase: bool, keep_accents: bool,
                  split_by_punct: bool = False):
    """ALBERT's, DeBERTa-v3's or XLM-RoBERTa's tokenizer from a SentencePiece unigram model
    (Hugging Face's AlbertConverter, DebertaV2Converter, XLMRobertaConverter).

    ``split_by_punct`` is DeBERTa's tokenizer option (``tokenizer_config.json``), False in
    DeBERTa-v3's checkpoints and in keras-hub's DebertaV3Tokenizer (plain SentencePiece):
    isolating punctuation there would make "film!" ``▁film ▁!`` instead of ``▁film !``."""
    from sentencepiece import sentencepiece_model_pb2
    from tokenizers import (Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers,
                            processors)

    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(proto_bytes)
    if proto.trainer_spec.model_type != 1:
        raise UserError("Only SentencePiece unigram models are supported for this "
                        "architecture.")
    pieces = [(p.piece, p.score) for p in proto.pieces]
    unk_id = proto.trainer_spec.unk_id
    if flavour == "xlm_roberta":     # fairseq's ids: 4 specials first, pieces shifted by 1
        pieces = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)] + \
            pieces[3:] + [("<mask>", 0.0)]
        unk_id = 3
    elif flavour == "albert":
        pieces = [(p, s) if len(p) < 2 or p[-1] != "," or not p[-2].isdigit() else
                  (p, s - 100) for p, s in pieces]
    tok = Tokenizer(models.Unigram(pieces, unk_id, proto.trainer_spec.byte_fallback))
    steps = []
    if flavour == "albert":
        steps += [normalizers.Replace("``", '"'), normalizers.Replace("''", '"')]
        if not keep_accents:
            steps += [normalizers.NFKD(), normalizers.StripAccents()]
    if flavour in ("albert", "deberta_v3") and lowercase:
        steps.append(normalizers.Lowercase())
    if flavour == "deberta_v3":
        steps.append(normalizers.Strip())
    if proto.normalizer_spec.precompiled_charsmap:
        steps.append(normalizers.Precompiled(proto.normalizer_spec.precompiled_charsmap))
    steps.append(normalizers.Replace(Regex(" {2,}"), " "))
    tok.normalizer = normalizers.Sequence(steps)
    metaspace = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Punctuation(behavior="isolated"), metaspace]) \
        if flavour == "deberta_v3" and split_by_punct else metaspace
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    vocab = {p: i for i, (p, _) in enumerate(pieces)}
    if flavour == "xlm_roberta":
        cls, sep, names = "<s>", "</s>", ("<s>", "<pad>", "</s>", "<unk>", "<mask>")
    else:
        cls, sep, names = "[CLS]", "[SEP]", ("[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]")
        if "[MASK]" not in vocab:       # DeBERTa-v3 appends it after the pieces
            vocab["[MASK]"] = len(pieces)
    _missing((cls, sep), vocab)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{cls}:0 $A:0 {sep}:0",
        pair=f"{cls}:0 $A:0 {sep}:0 {sep}:0 $B:1 {sep}:1" if flavour == "xlm_roberta"
        else f"{cls}:0 $A:0 {sep}:0 $B:1 {sep}:1",
        special_tokens=[(cls, vocab[cls]), (sep, vocab[sep])])
    _special_tokens(tok, names, vocab)
    return tok
