"""VGG16's layer tree: ``block1`` … ``block5`` → conv/pool layers, then ``classifier``
(fc1/fc2 of the original head), ``augmentation`` and ``head`` (the new layers)."""

from __future__ import annotations

from desktop_ft.core.layer_tree import LayerTree, Node, leaf_node

BLOCKS = ("block1", "block2", "block3", "block4", "block5")


def chain_layers(model) -> list:
    """Layers in order (the model is one chain), without the input layer."""
    return [layer for layer in model.layers if layer.__class__.__name__ != "InputLayer"]


def group_of(layer_name: str, new_layers: set[str]) -> str:
    """Tree group for a top-level layer: block1…block5, classifier (fc1/fc2) or head."""
    for b in BLOCKS:
        if layer_name.startswith(b + "_"):
            return b
    if layer_name.startswith("augment_"):
        return "augmentation"
    if layer_name in new_layers:
        return "head"
    return "classifier"


def build_tree(bundle) -> LayerTree:
    root = Node("model", "", "model")
    groups: dict[str, Node] = {}
    for layer in chain_layers(bundle.model):
        gname = group_of(layer.name, bundle.new_layers)
        if gname not in groups:
            kind = {"head": "head", "augmentation": "augmentation"}.get(gname, "block")
            groups[gname] = Node(gname, gname, kind, parent=root, is_new=gname == "head")
            root.children.append(groups[gname])
        group = groups[gname]
        group.children.append(leaf_node(layer, group, layer.name in bundle.new_layers))
    units = [groups[b] for b in BLOCKS if b in groups]
    if "classifier" in groups:
        units.append(groups["classifier"])
    return LayerTree(root, bundle.model, units)
