"""The text modality: keras-hub classifiers, one :class:`TextModality` per architecture of
the table in
:mod:`.architectures` (BERT, DistilBERT, RoBERTa, XLM-RoBERTa, ALBERT, DeBERTa-v3), each
fed by the checkpoint's own tokenizer (:mod:`.tokenizer`)."""

from desktop_ft.core.models.text.architectures import ARCHITECTURES, TextArchitecture
from desktop_ft.core.models.text.build import describe_source
from desktop_ft.core.models.text.modality import BY_ARCHITECTURE, TextModality
from desktop_ft.core.models.text.tokenizer import CheckpointTokenizer

__all__ = ["ARCHITECTURES", "BY_ARCHITECTURE", "CheckpointTokenizer", "TextArchitecture",
           "TextModality", "describe_source"]
