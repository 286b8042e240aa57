"""The layer tree: how a person thinks of the model, with tri-state ``trainable``.

The tree is generic: each modality builds its own shape from :func:`leaf_node` and
:func:`subtree_node` (``core/models/<modality>/tree.py``) — e.g. VGG16 → ``block1`` …
``block5`` → conv/pool layers → ``head``; BERT → ``embeddings``, ``transformer_layer_i``
→ attention, feed-forward and norms → ``pooled_dense`` → ``head``.

Each leaf owns Keras variables and one ``trainable`` flag per variable, so a leaf can be
*partial* (e.g. BitFit: only its bias trains). Groups derive their state from their
children and setting a group cascades. Nothing touches the Keras model until
:meth:`LayerTree.apply_to_model`, which survives the known ``trainable`` pitfalls; the
model must then be compiled again with a fresh optimizer (``training.compile.compile_model``).

Example:
    >>> tree = bundle.tree
    >>> tree.apply_strategy("partial", unfreeze_last=1)
    >>> tree.apply_patterns([("unfreeze", "block4_conv3")])
    >>> tree.totals()
    (9440771, 5275456)
"""

from __future__ import annotations

import fnmatch
from typing import Callable, Iterator

from desktop_ft.core import compat
from desktop_ft.core.errors import UserError
from desktop_ft.core.tree_nodes import (
    OFF,
    ON,
    PARTIAL,
    Node,
    can_train,
    flags_for,
    is_bias,
    is_lora,
    leaf_node,
    size_of,
    subtree_node,
)

__all__ = ["OFF", "ON", "PARTIAL", "LayerTree", "Node", "STRATEGIES", "STRATEGY_HELP",
           "TREE_STRATEGIES", "leaf_node", "subtree_node"]

STRATEGIES = ("head", "partial", "full", "bitfit", "lora", "qlora", "two-phase")
TREE_STRATEGIES = ("head", "partial", "full", "bitfit")   # need no change to the model
STRATEGY_HELP = {
    "head": "Freeze every pretrained layer; train only the new output head.",
    "partial": "Fine-tune the last N blocks (CNNs) or encoder layers (transformers) and the head.",
    "full": "Train every layer (needs the most data and time).",
    "bitfit": "BitFit: train only bias terms (and LayerNorm beta) of the pretrained layers, "
              "plus the head.",
    "lora": "LoRA (transformers): freeze the backbone and learn low-rank adapters beside the "
            "query and value projections, plus the head.",
    "qlora": "QLoRA-style (transformers): quantize the backbone to int8, then LoRA adapters "
             "and the head train in float.",
    "two-phase": "Train the new head first (backbone frozen), then also the chosen layers at "
                 "a ten times lower learning rate, in one run.",
}


class LayerTree:
    """Tree over a :class:`ModelBundle`'s model. Build with :meth:`from_bundle`."""

    def __init__(self, root: Node, model, units: list[Node],
                 partial_extras: list[Node] | None = None):
        self.root = root
        self.model = model
        self.units = units      # what "the last N blocks" counts, in order
        # Unfrozen with any of the units by "partial" (e.g. BERT's pooler).
        self.partial_extras = list(partial_extras or [])
        self._listeners: list[Callable[[list[Node]], None]] = []
        self.strategy = "custom"
        # Layer kinds that stay frozen when a block around them is unfrozen (an image
        # model's BatchNormalization, unless the user lets it train); a click on the
        # layer itself still unfreezes it.
        self.keep_frozen: tuple[str, ...] = ()

    # ------------------------------------------------------------------ building
    @classmethod
    def from_bundle(cls, bundle) -> "LayerTree":
        """The tree the bundle's modality builds (``Modality.build_tree``)."""
        return bundle.modality.build_tree(bundle)

    # ------------------------------------------------------------------ queries
    def nodes(self) -> Iterator[Node]:
        for c in self.root.children:
            yield from c.walk()

    def leaves(self) -> Iterator[Node]:
        return self.root.leaves()

    def find(self, path: str) -> Node:
        for n in self.nodes():
            if n.path == path:
                return n
        raise KeyError(path)

    def match(self, pattern: str) -> list[Node]:
        """Nodes whose full path or name matches the shell glob ``pattern``."""
        return [n for n in self.nodes()
                if fnmatch.fnmatchcase(n.path, pattern) or fnmatch.fnmatchcase(n.name, pattern)]

    def totals(self) -> tuple[int, int]:
        """(trainable, frozen) parameter counts as the tree stands."""
        total = self.root.params
        trainable = self.root.trainable_params
        return trainable, total - trainable

    def pretrained_fraction_trainable(self) -> float:
        """The share of the pretrained weights that will change: kernels and embeddings of
        layers that were not newly added, excluding biases and LoRA adapters (which are
        new or tiny). 0 for head-only, BitFit and LoRA; 1 for full fine-tuning."""
        changing = total = 0
        for leaf in self.leaves():
            if leaf.is_new:
                continue
            for v, t in zip(leaf.variables, leaf.var_trainable):
                if is_lora(v):
                    continue
                total += size_of(v)
                if t and not is_bias(v):
                    changing += size_of(v)
        return changing / total if total else 0.0

    def summary(self) -> dict:
        trainable, frozen = self.totals()
        total = trainable + frozen
        return {"strategy": self.strategy, "trainable_params": trainable,
                "frozen_params": frozen, "total_params": total,
                "trainable_percent": round(100.0 * trainable / total, 2) if total else 0.0}

    # ------------------------------------------------------------------ editing
    def subscribe(self, callback: Callable[[list[Node]], None]) -> None:
        """``callback(changed_nodes)`` runs after every edit (the GUI repaints from it)."""
        self._listeners.append(callback)

    def _changed(self, nodes: list[Node]) -> None:
        for cb in self._listeners:
            cb(nodes)

    def set_trainable(self, node: Node | str, value: bool, *, notify: bool = True) -> None:
        """Set a node and everything below it trainable (True) or frozen (False)."""
        if isinstance(node, str):
            node = self.find(node)
        for leaf in node.leaves():
            self._set_leaf(leaf, value, cascade=leaf is not node)
        self.strategy = "custom"
        if notify:
            self._changed([node])

    def set_all(self, value: bool) -> None:
        for leaf in self.leaves():
            self._set_leaf(leaf, value)

    def _set_leaf(self, leaf: Node, value: bool, cascade: bool = True) -> None:
        value = bool(value) and not (cascade and leaf.kind in self.keep_frozen)
        leaf.var_trainable = flags_for(leaf, value)
        leaf.flag = value

    def freeze_up_to(self, node: Node | str) -> None:
        """Freeze every layer before and including ``node`` (in model order)."""
        self._split_at(node, freeze_before=True)

    def unfreeze_from(self, node: Node | str) -> None:
        """Unfreeze ``node`` and every layer after it (in model order)."""
        self._split_at(node, freeze_before=False)

    def _split_at(self, node, freeze_before: bool) -> None:
        if isinstance(node, str):
            node = self.find(node)
        order = list(self.leaves())
        mine = list(node.leaves())
        last = max(order.index(l) for l in mine)
        first = min(order.index(l) for l in mine)
        for i, leaf in enumerate(order):
            if freeze_before and i <= last:
                self._set_leaf(leaf, False)
            elif not freeze_before and i >= first:
                self._set_leaf(leaf, True)
        self.strategy = "custom"
        self._changed([self.root])

    @property
    def block_count(self) -> int:
        """How many blocks "the last N blocks" counts from (``partial``, ``two-phase``):
        the most ``unfreeze_last`` can unfreeze, and the cap for a front end's input."""
        return len(self.units)

    def unfreeze_last_note(self, unfreeze_last: int) -> str | None:
        """What to tell the user when ``unfreeze_last`` asks for more blocks than there
        are (they all unfreeze), else None. Names no CLI flag: the window shows it too."""
        n = self.block_count
        if unfreeze_last <= n:
            return None
        return (f"Unfreezing all {n} blocks: {unfreeze_last} were asked for and the model "
                f"has {n}.")

    @property
    def has_lora(self) -> bool:
        return any(is_lora(v) for leaf in self.leaves() for v in leaf.variables)

    @property
    def has_backbone_bias(self) -> bool:
        """Whether BitFit has anything to train besides the head: a bias outside the
        new layers and the kinds kept frozen (BatchNormalization's beta, by default)."""
        return any(is_bias(v) for leaf in self.leaves()
                   if not leaf.is_new and leaf.kind not in self.keep_frozen
                   for v in leaf.variables)

    def apply_strategy(self, strategy: str, unfreeze_last: int = 1) -> None:
        """Set the tree to one of :data:`STRATEGIES`.

        ``lora``/``qlora`` need a model with LoRA enabled
        (``training.strategy.prepare_strategy``);
        ``two-phase`` shows the phase-2 layers (those of ``partial``); phase 1 trains the
        head only.
        """
        if strategy not in STRATEGIES:
            raise UserError(f"Unknown strategy '{strategy}' for the layer tree. Choose one of: "
                            f"{', '.join(STRATEGIES)}.")
        if strategy == "bitfit" and not self.has_backbone_bias:
            # (MobileNetV2, DenseNet, Xception, ResNet: convolutions without bias, each
            # followed by a BatchNormalization that stays frozen.) Else BitFit would
            # silently be head-only training.
            raise UserError("BitFit trains the bias terms of the pretrained layers, and this "
                            "model has none outside BatchNormalization, which stays frozen: "
                            "only the head would train. Choose head (the same training), "
                            "partial or full, or let BatchNormalization train.")
        if strategy in ("lora", "qlora") and not self.has_lora:
            raise UserError(f"The {strategy} strategy needs LoRA adapters in the model; "
                            "prepare it with desktop_ft.core.training.prepare_strategy "
                            "first.")
        if strategy == "full":
            self.set_all(True)
        else:
            self.set_all(False)
            for leaf in self.leaves():
                if leaf.is_new:
                    leaf.var_trainable = flags_for(leaf, True)
                    leaf.flag = True
            if strategy in ("lora", "qlora"):
                for leaf in self.leaves():
                    if not leaf.is_new:
                        leaf.var_trainable = flags_for(leaf, is_lora)
            if strategy in ("partial", "two-phase"):
                if unfreeze_last < 0:
                    raise UserError("--unfreeze-last must be 0 or more.")
                # Clamped: a slice from len - N goes negative when N exceeds the blocks,
                # and a negative start counts from the end (6 of VGG16's 5 was block 5).
                unfreeze_last = min(unfreeze_last, self.block_count)
                chosen = self.units[len(self.units) - unfreeze_last:] if unfreeze_last else []
                if unfreeze_last:
                    chosen = chosen + self.partial_extras
                for unit in chosen:
                    self.set_trainable(unit, True, notify=False)
            elif strategy == "bitfit":
                for leaf in self.leaves():
                    if not leaf.is_new:
                        # A kept-frozen BatchNorm's beta stays frozen too: a partly
                        # trainable BN layer would run in training mode.
                        frozen = leaf.kind in self.keep_frozen
                        leaf.var_trainable = flags_for(leaf, False if frozen else is_bias)
                        leaf.flag = False
        self.strategy = strategy
        self._changed([self.root])

    def apply_patterns(self, patterns: list[tuple[str, str]]) -> None:
        """Apply ``[("freeze"|"unfreeze", glob), ...]`` in order; a glob that matches no
        layer is an error (a typo would otherwise be silently ignored)."""
        strategy = self.strategy
        for action, pattern in patterns:
            nodes = self.match(pattern)
            if not nodes:
                examples = ", ".join(n.path for n in list(self.nodes())[:6])
                raise UserError(f"--{action} '{pattern}' matches no layer. Patterns are shell "
                                f"globs matched against a layer's path or name, e.g. "
                                f"{examples}.")
            # A glob sweeps over many layers as a block click does (kept-frozen kinds stay
            # frozen); a layer named exactly is a click on that layer.
            explicit = not any(c in pattern for c in "*?[")
            for n in nodes:
                if explicit:
                    self.set_trainable(n, action == "unfreeze", notify=False)
                else:
                    for leaf in n.leaves():
                        self._set_leaf(leaf, action == "unfreeze")
                    self.strategy = "custom"
        if patterns:
            self.strategy = f"{strategy}+patterns" if strategy != "custom" else "custom"
            self._changed([self.root])

    # ------------------------------------------------------------------ persistence
    def states(self) -> dict[str, list[bool]]:
        """Per-leaf trainable flags by path (for projects and head rebuilds)."""
        return {leaf.path: (list(leaf.var_trainable) if leaf.variables else [leaf.flag])
                for leaf in self.leaves()}

    def set_states(self, states: dict[str, list[bool]]) -> None:
        for leaf in self.leaves():
            flags = states.get(leaf.path)
            if flags is None:
                continue
            if leaf.variables and len(flags) == len(leaf.variables):
                leaf.var_trainable = [bool(f) and can_train(v)
                                      for f, v in zip(flags, leaf.variables)]
            elif flags:
                leaf.var_trainable = flags_for(leaf, bool(flags[0]))
                leaf.flag = bool(flags[0])
        self._changed([self.root])

    def copy_states_from(self, other: "LayerTree") -> None:
        """Carry frozen/unfrozen choices over from another tree, path by path (the new
        head of a rebuilt model stays trainable)."""
        states = {p: f for p, f in other.states().items()}
        for leaf in self.leaves():
            if leaf.is_new:
                states.pop(leaf.path, None)
        self.set_states(states)
        self.strategy = other.strategy

    # ------------------------------------------------------------------ the model
    def apply_to_model(self) -> None:
        """Write the tree's flags into the Keras model.

        Keras pitfalls handled here: a container's ``trainable`` overrides its children,
        and setting it to its current value may not cascade — so the whole model is set
        False then True first, then each leaf layer, then per-variable flags (a layer's
        ``trainable`` setter overwrites its variables' flags, so variables come last).
        Changes take effect only after the model is compiled again.
        """
        self.model.trainable = False
        self.model.trainable = True
        # A LoRA'd layer appears as two leaves (its weights, its adapter): gather by layer.
        by_layer: dict[int, tuple[object, list, bool]] = {}
        for leaf in self.leaves():
            layer, pairs, flag = by_layer.get(id(leaf.layer), (leaf.layer, [], False))
            by_layer[id(leaf.layer)] = (layer, pairs + list(zip(leaf.variables,
                                                                leaf.var_trainable)),
                                        flag or leaf.flag)
        for layer, pairs, flag in by_layer.values():
            if not pairs:
                layer.trainable = flag
                _inference_when_frozen(layer, flag)
            elif all(t for _, t in pairs):
                layer.trainable = True
            elif not any(t for _, t in pairs):
                layer.trainable = False
            else:
                layer.trainable = True
                for v, t in pairs:
                    v.trainable = t
        _drop_paths_when_frozen(self.model)

    def model_totals(self) -> tuple[int, int]:
        """(trainable, frozen) as Keras counts them — equals :meth:`totals` after apply."""
        t = sum(size_of(v) for v in self.model.trainable_weights)
        f = sum(size_of(v) for v in self.model.non_trainable_weights)
        return t, f

    # ------------------------------------------------------------------ text
    def render(self, max_depth: int = 9) -> str:
        """The tree as text, for ``desktop-ft layers``."""
        marks = {ON: "[x]", OFF: "[ ]", PARTIAL: "[~]"}
        lines = []

        def visit(node: Node, depth: int):
            if depth > max_depth:
                return
            label = "  " * depth + f"{marks[node.state]} {node.name}"
            kind = node.kind if node.is_leaf else ""
            params = node.params
            extra = f"{node.trainable_params:,} trainable" if node.state == PARTIAL else ""
            lines.append(f"{label:<52} {kind:<22} {node.output_shape:<22} {params:>12,} {extra}"
                         .rstrip())
            for c in node.children:
                visit(c, depth + 1)

        for c in self.root.children:
            visit(c, 0)
        s = self.summary()
        lines.append("")
        lines.append(f"Trainable: {s['trainable_params']:,} of {s['total_params']:,} parameters "
                     f"({s['trainable_percent']:.2f}%); frozen: {s['frozen_params']:,}. "
                     f"Strategy: {s['strategy']}.")
        return "\n".join(lines)




_DROPOUTS = ("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D")


def _inference_when_frozen(layer, trains: bool) -> None:
    """A frozen layer runs as at inference: Keras does it for BatchNormalization; a
    frozen Dropout inside a pretrained backbone (EfficientNet's stochastic depth) drops
    nothing until its block is unfrozen. Its rate is kept to restore."""
    if type(layer).__name__ not in _DROPOUTS:
        return
    if not hasattr(layer, "_rate_when_trained"):
        layer._rate_when_trained = float(layer.rate)
    layer.rate = layer._rate_when_trained if trains else 0.0


def _drop_paths_when_frozen(layer) -> None:
    """Stochastic depth as keras-hub's Swin has it — a weightless layer with a
    ``drop_prob`` inside a block, no row of the tree — drops nothing while its block
    trains nothing (like a frozen Dropout). Its probability is kept to restore."""
    trains = bool(layer.trainable_weights)
    for sub in compat.direct_sublayers(layer):
        if hasattr(sub, "drop_prob") and not sub.weights:
            if not hasattr(sub, "_drop_prob_when_trained"):
                sub._drop_prob_when_trained = float(sub.drop_prob)
            sub.drop_prob = sub._drop_prob_when_trained if trains else 0.0
        else:
            _drop_paths_when_frozen(sub)
