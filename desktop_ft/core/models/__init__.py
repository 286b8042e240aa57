"""Models: modalities (images, text), the registry of architectures, loading.
``load_model(spec)`` is the entry point; ``ARCHITECTURES`` maps each architecture's name
to the :class:`Modality` object bound to its row."""

from desktop_ft.core.models.base import Modality, ModelBundle, ModelSpec
from desktop_ft.core.models.shared import split_chain, to_class_probs
from desktop_ft.core.models.registry import (
    ARCHITECTURES,
    SAMPLE_SPEC,
    architecture_for_folder,
    check_spec,
    load_model,
    modality_for,
    modality_for_input,
    model_table,
    with_num_classes,
)

__all__ = ["ARCHITECTURES", "SAMPLE_SPEC", "Modality", "ModelBundle", "ModelSpec",
           "architecture_for_folder", "check_spec", "load_model", "modality_for",
           "modality_for_input", "model_table", "split_chain", "to_class_probs",
           "with_num_classes"]
