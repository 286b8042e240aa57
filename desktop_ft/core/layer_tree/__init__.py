"""The layer tree, in three files:

* :mod:`.nodes` — one row of the tree (:class:`Node`: a Keras layer's variables and
  their per-variable ``trainable`` flags, or a group of rows), and the builders a
  modality's tree is made of (:func:`leaf_node`, :func:`subtree_node`);
* :mod:`.tree_model` — :class:`LayerTree`, the tree as a person sees it: tri-state
  nodes, counts, glob patterns, edits, saved states, the text rendering;
* :mod:`.trainability` — which weights train: the strategies (:data:`STRATEGIES`) as
  flags on the tree, and the flags written into the Keras model.
"""

from desktop_ft.core.layer_tree.nodes import OFF, ON, PARTIAL, Node, leaf_node, subtree_node
from desktop_ft.core.layer_tree.trainability import (
    STRATEGIES,
    STRATEGY_HELP,
    TREE_STRATEGIES,
)
from desktop_ft.core.layer_tree.tree_model import LayerTree

__all__ = ["OFF", "ON", "PARTIAL", "LayerTree", "Node", "STRATEGIES", "STRATEGY_HELP",
           "TREE_STRATEGIES", "leaf_node", "subtree_node"]
