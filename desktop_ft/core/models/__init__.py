"""Model families. ``load_model(spec)`` is the entry point; ``FAMILIES`` maps names to
the :class:`Family` objects that describe them."""

from desktop_ft.core.models.base import (Family, ModelBundle, ModelSpec, split_chain,
                                         to_class_probs)
from desktop_ft.core.models.registry import (
                                             SAMPLE_SPEC,
                                             FAMILIES,
                                             check_spec,
                                             family_for_folder,
                                             family_for_input,
                                             get_family,
                                             load_model,
                                             model_table,
                                             with_num_classes,
)

__all__ = ["FAMILIES", "SAMPLE_SPEC", "Family", "ModelBundle", "ModelSpec", "check_spec",
           "family_for_folder", "family_for_input", "get_family", "load_model", "model_table",
           "split_chain",
           "to_class_probs", "with_num_classes"]
