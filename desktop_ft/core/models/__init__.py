"""Model families. ``registry.load_model(spec)`` is the entry point."""

from desktop_ft.core.models.registry import FAMILIES, ModelBundle, ModelSpec, load_model

__all__ = ["FAMILIES", "ModelBundle", "ModelSpec", "load_model"]
