"""One tokenizer per checkpoint, from the checkpoint's own files (Hugging Face
``tokenizers``): training, try-it, evaluation, explanations, prediction and the report all
tokenize through it, on every Keras backend, and exports carry it as ``tokenizer.json``.

Where it comes from, first match wins:

* a Hugging Face folder's ``tokenizer.json``;
* otherwise the folder's slow-tokenizer files, converted as Hugging Face converts them
  (:mod:`.hf_convert`): ``vocab.txt`` + ``tokenizer_config.json`` (WordPiece:
  ``do_lower_case``, ``strip_accents`` — null follows lowercasing —,
  ``tokenize_chinese_chars``), ``vocab.json`` + ``merges.txt`` (byte-level BPE) or a
  SentencePiece model;
* a keras-hub preset: its vocabulary (``assets/tokenizer/``) and its tokenizer config.

Example:
    >>> tok = CheckpointTokenizer.from_source("all-MiniLM-L6-v2/", "bert")
    >>> tok.encode(["Café naïve"], 8)["token_ids"]
    array([[ 101, 7668, 15743,  102,    0,    0,    0,    0]], dtype=int32)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from desktop_ft.core.errors import UserError
from desktop_ft.core.models.text import hf_convert

TOKENIZER_FILE = "tokenizer.json"
SPM_FILE = "sentencepiece.model"    # beside tokenizer.json: the SavedModel's tokenizer


def is_hf_tokenizer_json(path: Path) -> bool:
    """A Hugging Face ``tokenizer.json`` (a keras-hub preset has a file of that name too,
    holding a Keras layer config instead)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and "model" in data and "class_name" not in data


class CheckpointTokenizer:
    """Strings → ``token_ids`` / ``padding_mask`` (/ ``segment_ids``) int32 arrays of a
    fixed length, with the checkpoint's own rules. ``source`` says where the rules came
    from (shown in ``export.json`` and the model card)."""

    def __init__(self, tokenizer, source: str, *, segment_ids: bool,
                 spm_proto: bytes | None = None):
        self._tokenizer = tokenizer
        self.source = source
        self.segment_ids = segment_ids
        self.spm_proto = spm_proto      # the SentencePiece model, where there is one
        self._lengths: dict[int, object] = {}
        vocab = tokenizer.get_vocab(with_added_tokens=True)
        self.vocabulary_size = max(vocab.values()) + 1 if vocab else 0
        padding = tokenizer.padding or {}
        self.pad_id = int(padding.get("pad_id", self._find(vocab, hf_convert.PAD_NAMES, 0)))
        self.pad_token = tokenizer.id_to_token(self.pad_id)

    @staticmethod
    def _find(vocab: dict, names, default: int) -> int:
        return next((vocab[n] for n in names if n in vocab), default)

    # ------------------------------------------------------------------ sources
    @classmethod
    def from_source(cls, source: str, arch) -> "CheckpointTokenizer":
        """The tokenizer of a local Hugging Face folder, a keras-hub preset folder or a
        keras-hub preset name (``arch``: the architecture's table entry)."""
        folder = Path(source).expanduser()
        if folder.is_dir() and not (folder / "metadata.json").exists():
            return cls.from_hf_folder(folder, arch)
        return cls.from_keras_hub(source, arch)

    @classmethod
    def from_hf_folder(cls, folder: Path, arch) -> "CheckpointTokenizer":
        from tokenizers import Tokenizer

        spm = next((folder / n for n in hf_convert.SPM_FILES if (folder / n).is_file()),
                   None)
        proto = spm.read_bytes() if spm is not None and arch.tokenizer == "spm" else None
        path = folder / TOKENIZER_FILE
        if path.is_file() and is_hf_tokenizer_json(path):
            try:
                tok = Tokenizer.from_file(str(path))
            except Exception as e:    # tokenizers raises its own Exception type
                raise UserError(f"{path} is not a tokenizer this app can read ({e}).") from e
            return cls(tok, f"{TOKENIZER_FILE} of {folder}",
                       segment_ids=arch.segment_ids, spm_proto=proto)
        tok, files = hf_convert.from_slow_files(folder, arch)
        return cls(tok, f"{files} of {folder} (converted as Hugging Face does)",
                   segment_ids=arch.segment_ids, spm_proto=proto)

    @classmethod
    def from_keras_hub(cls, preset: str, arch) -> "CheckpointTokenizer":
        from desktop_ft.core.compat import keras_hub_preset_file as get_file

        config = json.loads(Path(get_file(preset, "tokenizer.json")).read_text())
        config = config.get("config", {})
        tok = hf_convert.from_keras_hub_assets(lambda name: get_file(preset, name), config,
                                               arch)
        name = Path(preset).name if Path(preset).expanduser().exists() else preset
        proto = Path(get_file(preset, "assets/tokenizer/vocabulary.spm")).read_bytes() \
            if arch.tokenizer == "spm" else None
        return cls(tok, f"vocabulary and tokenizer config of the keras-hub preset {name}",
                   segment_ids=arch.segment_ids, spm_proto=proto)

    @classmethod
    def from_file(cls, path: str | Path, *, segment_ids: bool,
                  source: str | None = None) -> "CheckpointTokenizer":
        """A ``tokenizer.json`` this app wrote (an export), with the SentencePiece model
        written beside it, if any."""
        from tokenizers import Tokenizer

        path = Path(path)
        if not path.is_file():
            raise UserError(f"{path.parent} has no {path.name}: the text model's tokenizer "
                            "is missing.")
        spm = path.parent / SPM_FILE
        tok = Tokenizer.from_file(str(path))
        tok.no_truncation()
        tok.no_padding()
        return cls(tok, source or path.name, segment_ids=segment_ids,
                   spm_proto=spm.read_bytes() if spm.is_file() else None)

    # ------------------------------------------------------------------ use
    def _fixed(self, length: int):
        """A copy that truncates and pads to ``length`` (cached per length)."""
        tok = self._lengths.get(length)
        if tok is None:
            from tokenizers import Tokenizer

            tok = Tokenizer.from_str(self._tokenizer.to_str())
            tok.enable_truncation(max_length=length)
            tok.enable_padding(length=length, pad_id=self.pad_id, pad_token=self.pad_token)
            self._lengths[length] = tok
        return tok

    def encode(self, texts, length: int) -> dict:
        """``{"token_ids", "padding_mask"[, "segment_ids"]}``: int32 ``[N, length]``."""
        texts = [str(t) for t in texts]
        encodings = self._fixed(length).encode_batch(texts) if texts else []
        ids = np.array([e.ids for e in encodings], np.int32).reshape(len(texts), length)
        mask = np.array([e.attention_mask for e in encodings],
                        np.int32).reshape(len(texts), length)
        out = {"token_ids": ids, "padding_mask": mask}
        if self.segment_ids:
            out["segment_ids"] = np.zeros_like(ids)
        return out

    def pieces(self, text: str, length: int) -> list[tuple[str, bool, bool]]:
        """Per token of ``text`` as the model sees it: (the original characters it covers,
        whether it is special or padding, whether it starts a word)."""
        e = self._fixed(length).encode(str(text))
        out, last = [], None
        for (start, end), special, word, pad in zip(e.offsets, e.special_tokens_mask,
                                                    e.word_ids, e.attention_mask):
            out.append((str(text)[start:end].strip(), bool(special) or not pad,
                        word is None or word != last))
            last = word
        return out

    def vocabulary(self) -> list[str]:
        vocab = self._tokenizer.get_vocab(with_added_tokens=True)
        out = [""] * self.vocabulary_size
        for token, i in vocab.items():
            out[i] = token
        return out

    @property
    def model_type(self) -> str:
        return json.loads(self._tokenizer.to_str())["model"]["type"]

    def to_str(self) -> str:
        return self._tokenizer.to_str()

    def save(self, path: str | Path, length: int | None = None) -> None:
        """Write ``tokenizer.json``; with ``length``, set to truncate and pad to it (as a
        user of the ONNX/LiteRT files needs)."""
        tok = self._fixed(length) if length else self._tokenizer
        tok.save(str(path))
        if self.spm_proto is not None:
            (Path(path).parent / SPM_FILE).write_bytes(self.spm_proto)

    def describe(self) -> dict:
        """For ``export.json``: where the rules come from, and what they are."""
        data = json.loads(self._tokenizer.to_str())
        normalizer = data.get("normalizer") or {}
        return {"source": self.source, "library": "tokenizers",
                "model": data["model"]["type"],
                "normalizer": normalizer.get("type") if normalizer else None,
                "vocabulary_size": self.vocabulary_size}
