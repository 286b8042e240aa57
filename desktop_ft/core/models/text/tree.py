"""A text model's layer tree, the same shape for every architecture: ``embeddings``
(token, position, segment and relative embeddings, their norm and projection), one node
per encoder layer (``transformer_layer_i``, DeBERTa's
``disentangled_attention_encoder_layer_i``, ALBERT's shared ``group_g_inner_layer_i``) →
``self_attention_layer`` (query/key/value/attention_output), its norm, ``feedforward``
(intermediate/output dense), its norm; BERT's and ALBERT's ``pooled_dense``; ``head``
(the classifier's own layers: its pooler, where it has one, and the logits)."""

from __future__ import annotations

from desktop_ft.core import compat
from desktop_ft.core.layer_tree import LayerTree, Node, leaf_node, subtree_node


def build_tree(bundle) -> LayerTree:
    model = bundle.model
    root = Node("model", "", "model")
    emb = Node("embeddings", "embeddings", "group", parent=root)
    root.children.append(emb)
    units, extras = [], []
    for layer in model.backbone.layers:
        if not layer.weights:
            continue
        if _is_encoder(layer):
            node = _encoder(layer, root)
            units.append(node)
            root.children.append(node)
        elif "embedding" in layer.name:
            for owner in _weight_owners(layer):
                emb.children.append(leaf_node(owner, emb, False))
        else:
            node = subtree_node(layer, root, False)
            root.children.append(node)
            if layer.name == "pooled_dense":
                extras.append(node)   # "last N layers" also trains the pooler
    head = Node("head", "head", "head", parent=root, is_new=True)
    for layer in model.layers:
        if layer.name in bundle.new_layers:
            head.children.append(leaf_node(layer, head, True))
    root.children.append(head)
    return LayerTree(root, model, units, partial_extras=extras)


def _weight_owners(layer) -> list:
    """``layer`` and its sublayers that own weights, parents first, as rows of the
    embeddings group: DistilBERT's and XLM-RoBERTa's TokenAndPositionEmbedding owns none
    itself (its token and position embeddings do: a leaf of it would count 0), DeBERTa's
    rel_embedding owns its table and holds a layer norm (a leaf of it alone would miss
    the norm). Parents first: ``LayerTree.apply_to_model`` sets layers in this order, and
    a parent's ``trainable`` overwrites its sublayers'."""
    own = bool(compat.own_variables(layer))
    subs = [o for s in compat.direct_sublayers(layer) if s.weights for o in _weight_owners(s)]
    return ([layer] if own or not subs else []) + subs


def _is_encoder(layer) -> bool:
    return any(sub.name == "self_attention_layer" for sub in compat.direct_sublayers(layer))


def _encoder(layer, parent: Node) -> Node:
    """transformer_layer_i → self-attention, its norm, feed-forward group, its norm."""
    node = Node(layer.name, f"{parent.path}/{layer.name}" if parent.path else layer.name,
                "transformer", parent=parent)
    ff = None
    for sub in compat.direct_sublayers(layer):
        if not sub.weights:
            continue
        if sub.name.startswith("feedforward_") and "norm" not in sub.name:
            if ff is None:
                ff = Node("feedforward", f"{node.path}/feedforward", "group", parent=node)
                node.children.append(ff)
            ff.children.append(subtree_node(sub, ff, False))
        else:
            node.children.append(subtree_node(sub, node, False))
    # Keras builds the feed-forward norm before the dense layers (pre-norm code path);
    # people read an encoder as attention, its norm, feed-forward, its norm.
    node.children.sort(key=lambda c: c.name == "feedforward_layer_norm")
    return node
