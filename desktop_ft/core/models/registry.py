"""The model families by name, and loading a model from a spec.

Adding a family: a package beside ``image/`` and ``text/`` whose ``FAMILY`` (or
``FAMILIES``, one per architecture of its table) implements
:class:`~desktop_ft.core.models.base.Family`, and one line in :data:`FAMILIES`.
"""

from __future__ import annotations

import threading

from desktop_ft.core import distribution, runtime
from desktop_ft.core.errors import UserError
from desktop_ft.core.layer_tree import LayerTree
from desktop_ft.core.models import image, text
from desktop_ft.core.models.base import Family, ModelBundle, ModelSpec
from desktop_ft.core.observer import Observer

FAMILIES: dict[str, Family] = {
    **image.FAMILIES,
    **text.FAMILIES,
}


def get_family(name: str) -> Family:
    try:
        return FAMILIES[str(name).lower()]
    except KeyError:
        raise UserError(f"Unknown model '{name}'. Choose one of: "
                        f"{', '.join(FAMILIES)}.") from None


def family_for_input(kind: str) -> Family:
    """The first family that takes ``kind`` ("images" or "text") — the window's guess
    when data is dropped before a model is chosen."""
    for family in FAMILIES.values():
        if family.input_kind == kind:
            return family
    raise UserError(f"No model takes {kind}.")


def family_for_folder(path) -> str | None:
    """The name of the family whose checkpoint the local folder ``path`` holds, told
    from its config.json (no weights are read); None when it cannot tell."""
    for arch in (text.architectures.architecture_for_folder(path),
                 image.architecture_for_folder(path)):
        if arch is not None:
            return next((name for name, family in FAMILIES.items()
                         if getattr(family, "arch", None) is arch), None)
    return None


# The built-in sample's network: small and quick (the sample is 64 px shapes).
SAMPLE_SPEC = {"family": "vgg16", "image_size": 64, "head": "gap"}


def model_table() -> list[dict]:
    """Every network's :meth:`Family.table_row`, images first, in table order."""
    return [family.table_row() for family in FAMILIES.values()]


def check_spec(spec: ModelSpec | dict) -> ModelSpec:
    """A validated spec (family known, its settings buildable); raises UserError."""
    if isinstance(spec, dict):
        spec = ModelSpec.from_dict(spec)
    get_family(spec.family).check_spec(spec)
    if spec.precision not in runtime.PRECISIONS:
        raise UserError(f"Unknown precision '{spec.precision}'. Choose one of: "
                        f"{', '.join(runtime.PRECISIONS)}.")
    return spec


def load_model(spec: ModelSpec, observer: Observer | None = None,
               stop: threading.Event | None = None) -> ModelBundle:
    """Build the model described by ``spec`` (downloading weights if needed), with its
    layer tree set to the family's default: only the new head trains on pretrained
    weights, everything on random ones.

    Raises :class:`UserError` with advice when weights cannot be had.
    """
    observer = observer or Observer()
    spec = check_spec(spec)
    family = get_family(spec.family)
    runtime.configure()
    policy, note = runtime.apply_precision(spec.precision)
    if note:
        observer.on_status(note)
    # Variables must be created inside the distribution strategy's scope (several GPUs).
    with distribution.distribution_strategy().scope():
        bundle = family.build(spec, observer, stop)
    bundle.parts["precision"] = policy
    bundle.tree = LayerTree.from_bundle(bundle)
    bundle.tree.apply_strategy(family.default_strategy(bundle.spec))
    return bundle


def with_num_classes(bundle: ModelBundle, num_classes: int,
                     classes: list[str] | None = None) -> ModelBundle:
    """The same pretrained layers with a new head for ``num_classes`` classes; the layer
    tree's frozen/unfrozen choices are carried over by path."""
    if num_classes == bundle.num_classes:
        bundle.classes = classes or bundle.classes
        return bundle
    spec = bundle.spec.replace(num_classes=num_classes)
    with distribution.distribution_strategy().scope():
        new = bundle.family_impl.rebuild_head(bundle, spec)
    for key in ("peft", "precision", "trained_keys", "source_seed"):
        if key in bundle.parts:
            new.parts[key] = bundle.parts[key]
    new.classes = classes
    new.tree = LayerTree.from_bundle(new)
    if bundle.tree is not None:
        new.tree.copy_states_from(bundle.tree)
    return new
