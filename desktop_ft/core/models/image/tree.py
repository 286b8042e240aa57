"""An image model's layer tree: the backbone's blocks as the architecture names them
(VGG ``block1`` … ``block5``; ResNet ``conv1`` … ``conv5``; EfficientNet stages
``block1`` … → ``block1a`` …; ConvNeXt ``stage_0`` … → ``block_0`` …; ViT
``transformer_block_1`` …) → layers, then ``classifier`` (VGG's fc1/fc2 of the original
head), ``augmentation`` and ``head`` (the new layers).

The groups come from the entry's ``blocks`` rules (:meth:`ImageArchitecture.group_of`);
"the last N blocks" counts the top-level groups.
"""

from __future__ import annotations

from desktop_ft.core import compat
from desktop_ft.core.layer_tree import LayerTree, Node, leaf_node, subtree_node


def chain_layers(model) -> list:
    """The model's top-level layers in order, without the input layer: a chain (an image
    model is one, its backbone being one layer unless it is flattened)."""
    return [layer for layer in model.layers if layer.__class__.__name__ != "InputLayer"]


def backbone_rows(arch, backbone_layers) -> list[tuple[str, object]]:
    """(group path, layer) for every backbone layer, containers named in the entry's
    ``expand`` opened into their sublayers; unmatched names join the group before them
    (or, first of all, the one after)."""
    flat = []
    for layer in backbone_layers:
        if type(layer).__name__ in arch.expand:
            flat.extend(compat.direct_sublayers(layer))
        else:
            flat.append(layer)
    groups = [arch.group_of(layer.name) for layer in flat]
    # "" (join the next group) and leading None: take the next named group.
    following = None
    for i in range(len(groups) - 1, -1, -1):
        if groups[i]:
            following = groups[i]
        elif groups[i] == "":
            groups[i] = following
    previous = None
    for i, g in enumerate(groups):
        if g:
            previous = g
        else:
            groups[i] = previous or following or "backbone"
    return list(zip(groups, flat))


def build_tree(bundle) -> LayerTree:
    arch = bundle.modality.arch
    root = Node("model", "", "model")
    nodes: dict[str, Node] = {}
    order: list[Node] = []

    def group(path: str, kind: str = "block") -> Node:
        if path in nodes:
            return nodes[path]
        parent_path, _, name = path.rpartition("/")
        parent = group(parent_path) if parent_path else root
        node = Node(name, path, kind, parent=parent, is_new=kind == "head")
        parent.children.append(node)
        nodes[path] = node
        if parent is root:
            order.append(node)
        return node

    chain = chain_layers(bundle.model)
    backbone = [layer for layer in chain if not layer.name.startswith("augment_")
                and layer.name not in bundle.new_layers]
    for layer in chain:
        if layer.name.startswith("augment_"):
            g = group("augmentation", "augmentation")
            g.children.append(leaf_node(layer, g, False))
    if len(backbone) == 1 and backbone[0].name == "backbone":
        backbone = [layer for layer in backbone[0].layers
                    if layer.__class__.__name__ != "InputLayer"]
    for path, layer in backbone_rows(arch, backbone):
        g = group(path)
        row = _row(layer, g)
        g.children.extend(row if isinstance(row, list) else [row])
    head = group("head", "head")
    for layer in chain:
        if layer.name in bundle.new_layers:
            head.children.append(leaf_node(layer, head, True))
    # The tree shows the head last, augmentation first.
    root.children.sort(key=lambda n: (n.name != "augmentation", n.name == "head"))
    units = [n for n in root.children if n.kind == "block" and n.params]
    tree = LayerTree(root, bundle.model, units)
    if not bundle.spec.train_bn:
        tree.keep_frozen = ("BatchNormalization",)
    return tree


def _row(layer, parent: Node) -> Node | list[Node]:
    """A leaf, or a group of the layer's weighted sublayers; a layer that owns variables
    *and* holds weighted sublayers (ViT's patch embedding owns the class token) gets a
    group with a leaf for its own variables first (a parent's ``trainable`` is set
    before its sublayers')."""
    subs = [s for s in compat.direct_sublayers(layer) if s.weights]
    own = compat.own_variables(layer)
    if subs and not own and parent.name == layer.name:   # ViT's transformer_block_i
        return [subtree_node(s, parent, False) for s in subs]
    if not (subs and own):
        return subtree_node(layer, parent, False)
    path = f"{parent.path}/{layer.name}"
    group = Node(layer.name, path, "group", parent=parent)
    group.children.append(leaf_node(layer, group, False))
    group.children.extend(subtree_node(s, group, False) for s in subs)
    return group
