"""The registry of architectures by name, and loading a model from a spec.

Each modality package (``image/``, ``text/``) exports ``BY_ARCHITECTURE``: one object of
its :class:`~desktop_ft.core.models.base.Modality` subclass per row of its architecture
table. Adding a modality: a package beside ``image/`` and ``text/`` doing the same, and
one line in :data:`ARCHITECTURES`.
"""

from __future__ import annotations

import threading

from desktop_ft.core import distribution, runtime
from desktop_ft.core.errors import UserError
from desktop_ft.core.layer_tree import LayerTree
from desktop_ft.core.models import image, text
from desktop_ft.core.models.base import Modality, ModelBundle, ModelSpec
from desktop_ft.core.observer import Observer

# Architecture name → the modality object bound to its row, images first, in table order.
ARCHITECTURES: dict[str, Modality] = {
    **image.BY_ARCHITECTURE,
    **text.BY_ARCHITECTURE,
}


def modality_for(name: str) -> Modality:
    try:
        return ARCHITECTURES[str(name).lower()]
    except KeyError:
        raise UserError(f"Unknown model '{name}'. Choose one of: "
                        f"{', '.join(ARCHITECTURES)}.") from None


def modality_for_input(kind: str) -> Modality:
    """The first modality that takes ``kind`` ("images" or "text") — the window's guess
    when data is dropped before a model is chosen."""
    for modality in ARCHITECTURES.values():
        if modality.input_kind == kind:
            return modality
    raise UserError(f"No model takes {kind}.")


def architecture_for_folder(path) -> str | None:
    """The name of the architecture whose checkpoint the local folder ``path`` holds, told
    from its config.json (no weights are read); None when it cannot tell."""
    for arch in (text.architectures.architecture_for_folder(path),
                 image.architecture_for_folder(path)):
        if arch is not None:
            return next((name for name, modality in ARCHITECTURES.items()
                         if getattr(modality, "arch", None) is arch), None)
    return None


# The built-in sample's network: small and quick (the sample is 64 px shapes).
SAMPLE_SPEC = {"architecture": "vgg16", "image_size": 64, "head": "gap"}


def model_table() -> list[dict]:
    """Every network's :meth:`Modality.table_row`, images first, in table order."""
    return [modality.table_row() for modality in ARCHITECTURES.values()]


def check_spec(spec: ModelSpec | dict) -> ModelSpec:
    """A validated spec (modality known, its settings buildable); raises UserError."""
    if isinstance(spec, dict):
        spec = ModelSpec.from_dict(spec)
    modality_for(spec.architecture).check_spec(spec)
    if spec.precision not in runtime.PRECISIONS:
        raise UserError(f"Unknown precision '{spec.precision}'. Choose one of: "
                        f"{', '.join(runtime.PRECISIONS)}.")
    return spec


def load_model(spec: ModelSpec, observer: Observer | None = None,
               stop: threading.Event | None = None) -> ModelBundle:
    """Build the model described by ``spec`` (downloading weights if needed), with its
    layer tree set to the modality's default: only the new head trains on pretrained
    weights, everything on random ones.

    Raises :class:`UserError` with advice when weights cannot be had.
    """
    observer = observer or Observer()
    spec = check_spec(spec)
    modality = modality_for(spec.architecture)
    runtime.configure()
    policy, note = runtime.apply_precision(spec.precision)
    if note:
        observer.on_status(note)
    # Variables must be created inside the distribution strategy's scope (several GPUs).
    with distribution.distribution_strategy().scope():
        bundle = modality.build(spec, observer, stop)
    bundle.parts["precision"] = policy
    bundle.tree = LayerTree.from_bundle(bundle)
    bundle.tree.apply_strategy(modality.default_strategy(bundle.spec))
    return bundle


def with_num_classes(bundle: ModelBundle, num_classes: int,
                     classes: list[str] | None = None,
                     multi_label: bool | None = None) -> ModelBundle:
    """The same pretrained layers with a new head for ``num_classes`` classes (one
    sigmoid per label when ``multi_label``; None: as the bundle's head is); the layer
    tree's frozen/unfrozen choices are carried over by path."""
    multi_label = bundle.multi_label if multi_label is None else bool(multi_label)
    if num_classes == bundle.num_classes and multi_label == bundle.multi_label:
        bundle.classes = classes or bundle.classes
        return bundle
    spec = bundle.spec.replace(num_classes=num_classes, multi_label=multi_label)
    with distribution.distribution_strategy().scope():
        new = bundle.modality.rebuild_head(bundle, spec)
    for key in ("peft", "precision", "trained_keys", "source_seed"):
        if key in bundle.parts:
            new.parts[key] = bundle.parts[key]
    new.classes = classes
    new.tree = LayerTree.from_bundle(new)
    if bundle.tree is not None:
        new.tree.copy_states_from(bundle.tree)
    return new
