"""The text architectures: one entry each, over keras-hub's TextClassifier models.

An entry is data — the keras-hub classes, which Hugging Face ``model_type`` values its
folders carry, the tokenizer kind, whether the backbone takes ``segment_ids``, a few
preset names for the picker, its default (base-size) configuration for building with
random weights, and a tiny configuration for the conformance test. Adding an
architecture that keras-hub has a TextClassifier for is one entry here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

_BASE = {"num_layers": 12, "num_heads": 12, "hidden_dim": 768, "intermediate_dim": 3072,
         "max_sequence_length": 512}
_TINY = {"num_layers": 2, "num_heads": 2, "hidden_dim": 8, "intermediate_dim": 16,
         "max_sequence_length": 32}


@dataclass(frozen=True)
class TextArchitecture:
    name: str                     # CLI name (keras-hub's snake_case)
    title: str                    # the picker's line
    backbone: str                 # keras_hub.models.<backbone>
    classifier: str               # keras_hub.models.<classifier>
    hf_model_types: tuple         # config.json "model_type" values of its HF folders
    tokenizer: str                # "wordpiece" | "bpe" | "spm"
    segment_ids: bool             # the backbone takes segment_ids
    presets: tuple                # well-known keras-hub preset names
    default_config: dict          # base size, for --weights none without a preset
    tiny_config: dict = field(default_factory=dict)   # 2 layers, a few channels
    spm_flavour: str = ""         # albert | deberta_v3 | xlm_roberta
    specials: tuple = ("[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]")  # cls sep pad unk mask
    languages: str = "English"
    hf_folders: bool = True       # keras-hub converts its Hugging Face folders

    @property
    def vocabulary_size(self) -> int:
        return self.default_config["vocabulary_size"]


_ROBERTA_SPECIALS = ("<s>", "</s>", "<pad>", "<unk>", "<mask>")

ARCHITECTURES: dict[str, TextArchitecture] = {a.name: a for a in (
    TextArchitecture(
        "bert", "BERT — text", "BertBackbone", "BertTextClassifier", ("bert",),
        "wordpiece", True,
        ("bert_tiny_en_uncased", "bert_small_en_uncased", "bert_base_en_uncased",
         "bert_base_multi", "all_minilm_l6_v2_en"),
        {"vocabulary_size": 30522, **_BASE},
        {"vocabulary_size": 64, **_TINY},
        languages="English (uncased/cased); bert_base_multi: 104 languages"),
    TextArchitecture(
        "distilbert", "DistilBERT — text", "DistilBertBackbone", "DistilBertTextClassifier",
        ("distilbert",), "wordpiece", False,
        ("distil_bert_base_en_uncased", "distil_bert_base_en", "distil_bert_base_multi"),
        {"vocabulary_size": 30522, **_BASE, "num_layers": 6},
        {"vocabulary_size": 64, **_TINY},
        languages="English; distil_bert_base_multi: 104 languages"),
    TextArchitecture(
        "roberta", "RoBERTa — text", "RobertaBackbone", "RobertaTextClassifier",
        ("roberta",), "bpe", False, ("roberta_base_en", "roberta_large_en"),
        {"vocabulary_size": 50265, **_BASE},
        {"vocabulary_size": 64, **_TINY},
        specials=_ROBERTA_SPECIALS, languages="English (byte-level: any text)"),
    TextArchitecture(
        "xlm_roberta", "XLM-RoBERTa — text, ~100 languages", "XLMRobertaBackbone",
        "XLMRobertaTextClassifier", ("xlm-roberta", "xlm_roberta"), "spm", False,
        ("xlm_roberta_base_multi", "xlm_roberta_large_multi"),
        {"vocabulary_size": 250002, **_BASE},
        {"vocabulary_size": 64, **_TINY},
        spm_flavour="xlm_roberta", specials=_ROBERTA_SPECIALS,
        languages="about 100 languages"),
    TextArchitecture(
        "albert", "ALBERT — text", "AlbertBackbone", "AlbertTextClassifier", ("albert",),
        "spm", True, ("albert_base_en_uncased", "albert_large_en_uncased"),
        {"vocabulary_size": 30000, **_BASE, "embedding_dim": 128, "num_groups": 1,
         "num_inner_repetitions": 1},
        {"vocabulary_size": 64, **_TINY, "embedding_dim": 4, "num_groups": 1,
         "num_inner_repetitions": 1},
        spm_flavour="albert"),
    TextArchitecture(
        "deberta_v3", "DeBERTa-v3 — text", "DebertaV3Backbone", "DebertaV3TextClassifier",
        ("deberta-v2", "deberta_v2", "deberta-v3"), "spm", False,
        ("deberta_v3_extra_small_en", "deberta_v3_small_en", "deberta_v3_base_en",
         "deberta_v3_base_multi"),
        {"vocabulary_size": 128100, **_BASE, "bucket_size": 256},
        {"vocabulary_size": 64, **_TINY, "bucket_size": 4},
        spm_flavour="deberta_v3", hf_folders=False,
        languages="English; deberta_v3_base_multi: ~100 languages"),
)}


def architecture_for_model_type(model_type: str) -> TextArchitecture | None:
    """The entry whose Hugging Face folders carry ``model_type``."""
    return next((a for a in ARCHITECTURES.values() if model_type in a.hf_model_types), None)


def architecture_for_folder(path) -> TextArchitecture | None:
    """The entry whose checkpoint the local folder ``path`` holds, told from its
    ``config.json`` alone (no weights are read): a Hugging Face folder's ``model_type``
    or a keras-hub preset folder's backbone ``class_name``. None when it cannot tell."""
    try:
        config = json.loads((Path(path).expanduser() / "config.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(config, dict):
        return None
    if isinstance(config.get("model_type"), str):
        return architecture_for_model_type(config["model_type"])
    class_name = config.get("class_name")
    return next((a for a in ARCHITECTURES.values() if a.backbone == class_name), None)
