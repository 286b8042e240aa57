"""The text architectures: one row each, over keras-hub's TextClassifier models.

A row is data, read like a keras-hub preset: keyword fields grouped by what they serve.
*build* — the keras-hub classes, the tokenizer kind, whether the backbone takes
``segment_ids``, its default (base-size) configuration for building with random weights,
and which checkpoints it loads (keras-hub presets, Hugging Face folders and their
``model_type`` values); *tree* — nothing: every text row groups its layers alike
(:mod:`.tree`); *facts* — what the picker shows. Adding an architecture that keras-hub
has a TextClassifier for is one row here plus its tiny configuration in
tests/core/text_presets.py (see docs/ARCHITECTURE.md, "How to add an architecture").
"""

from __future__ import annotations

from dataclasses import dataclass

from desktop_ft.core.models.shared import read_config_json

_BASE = {"num_layers": 12, "num_heads": 12, "hidden_dim": 768, "intermediate_dim": 3072,
         "max_sequence_length": 512}


@dataclass(frozen=True, kw_only=True)
class TextArchitecture:
    """One text architecture: a row of :data:`ARCHITECTURES`, keyword fields grouped
    into how to build it and the facts shown to users."""

    name: str                     # CLI name (keras-hub's snake_case), the row's key
    # --- build: the keras-hub classes, the tokenizer, the checkpoints it loads
    backbone: str                 # keras_hub.models.<backbone>
    classifier: str               # keras_hub.models.<classifier>
    tokenizer: str                # "wordpiece" | "bpe" | "spm"
    spm_flavour: str = ""         # albert | deberta_v3 | xlm_roberta
    specials: tuple = ("[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]")  # cls sep pad unk mask
    segment_ids: bool             # the backbone takes segment_ids
    default_config: dict          # base size, for --weights none without a preset
    presets: tuple                # well-known keras-hub preset names
    hf_model_types: tuple         # config.json "model_type" values of its HF folders
    hf_folders: bool = True       # keras-hub converts its Hugging Face folders
    # --- facts shown to users
    title: str                    # the picker's line
    short: str                    # the network's name in messages ("BERT")
    languages: str = "English"

    @property
    def vocabulary_size(self) -> int:
        return self.default_config["vocabulary_size"]

    # --- facts the window shows
    @property
    def unit_name(self) -> str:
        """What "the last N …" counts in the layers panel."""
        return "layers"

    @property
    def weights_choices(self) -> tuple:
        """The Weights box's choices: none (a text row loads a preset or a folder)."""
        return ()

    @property
    def head_choices(self) -> tuple:
        """The Head box's choices: none (keras-hub's classifier head)."""
        return ()


_ROBERTA_SPECIALS = ("<s>", "</s>", "<pad>", "<unk>", "<mask>")

ARCHITECTURES: dict[str, TextArchitecture] = {a.name: a for a in (
    TextArchitecture(
        name="bert",
        backbone="BertBackbone", classifier="BertTextClassifier", tokenizer="wordpiece",
        segment_ids=True, default_config={"vocabulary_size": 30522, **_BASE},
        presets=("bert_tiny_en_uncased", "bert_small_en_uncased", "bert_base_en_uncased",
                 "bert_base_multi", "all_minilm_l6_v2_en"),
        hf_model_types=("bert",),
        title="BERT — text", short="BERT",
        languages="English (uncased/cased); bert_base_multi: 104 languages"),
    TextArchitecture(
        name="distilbert",
        backbone="DistilBertBackbone", classifier="DistilBertTextClassifier",
        tokenizer="wordpiece", segment_ids=False,
        default_config={"vocabulary_size": 30522, **_BASE, "num_layers": 6},
        presets=("distil_bert_base_en_uncased", "distil_bert_base_en",
                 "distil_bert_base_multi"),
        hf_model_types=("distilbert",),
        title="DistilBERT — text", short="DistilBERT",
        languages="English; distil_bert_base_multi: 104 languages"),
    TextArchitecture(
        name="roberta",
        backbone="RobertaBackbone", classifier="RobertaTextClassifier", tokenizer="bpe",
        specials=_ROBERTA_SPECIALS, segment_ids=False,
        default_config={"vocabulary_size": 50265, **_BASE},
        presets=("roberta_base_en", "roberta_large_en"), hf_model_types=("roberta",),
        title="RoBERTa — text", short="RoBERTa", languages="English (byte-level: any text)"),
    TextArchitecture(
        name="xlm_roberta",
        backbone="XLMRobertaBackbone", classifier="XLMRobertaTextClassifier",
        tokenizer="spm", spm_flavour="xlm_roberta", specials=_ROBERTA_SPECIALS,
        segment_ids=False, default_config={"vocabulary_size": 250002, **_BASE},
        presets=("xlm_roberta_base_multi", "xlm_roberta_large_multi"),
        hf_model_types=("xlm-roberta", "xlm_roberta"),
        title="XLM-RoBERTa — text, ~100 languages", short="XLM-RoBERTa",
        languages="about 100 languages"),
    TextArchitecture(
        name="albert",
        backbone="AlbertBackbone", classifier="AlbertTextClassifier", tokenizer="spm",
        spm_flavour="albert", segment_ids=True,
        default_config={"vocabulary_size": 30000, **_BASE, "embedding_dim": 128,
                        "num_groups": 1, "num_inner_repetitions": 1},
        presets=("albert_base_en_uncased", "albert_large_en_uncased"),
        hf_model_types=("albert",),
        title="ALBERT — text", short="ALBERT"),
    TextArchitecture(
        name="deberta_v3",
        backbone="DebertaV3Backbone", classifier="DebertaV3TextClassifier", tokenizer="spm",
        spm_flavour="deberta_v3", segment_ids=False,
        default_config={"vocabulary_size": 128100, **_BASE, "bucket_size": 256},
        presets=("deberta_v3_extra_small_en", "deberta_v3_small_en", "deberta_v3_base_en",
                 "deberta_v3_base_multi"),
        hf_model_types=("deberta-v2", "deberta_v2", "deberta-v3"), hf_folders=False,
        title="DeBERTa-v3 — text", short="DeBERTa-v3",
        languages="English; deberta_v3_base_multi: ~100 languages"),
)}


def architecture_for_model_type(model_type: str) -> TextArchitecture | None:
    """The entry whose Hugging Face folders carry ``model_type``."""
    return next((a for a in ARCHITECTURES.values() if model_type in a.hf_model_types), None)


def architecture_for_folder(path) -> TextArchitecture | None:
    """The entry whose checkpoint the local folder ``path`` holds, told from its
    ``config.json`` alone (no weights are read): a Hugging Face folder's ``model_type``
    or a keras-hub preset folder's backbone ``class_name``. None when it cannot tell."""
    config = read_config_json(path)
    if config is None:
        return None
    if isinstance(config.get("model_type"), str):
        return architecture_for_model_type(config["model_type"])
    class_name = config.get("class_name")
    return next((a for a in ARCHITECTURES.values() if a.backbone == class_name), None)
