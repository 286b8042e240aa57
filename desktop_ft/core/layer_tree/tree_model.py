"""The layer tree: how a person thinks of the model, with tri-state ``trainable`` —
its nodes, counts, glob patterns, edits and saved states. Which weights each strategy
trains, and writing the flags into Keras, is :mod:`.trainability`.

The tree is generic: each modality builds its own shape from :func:`leaf_node` and
:func:`subtree_node` (``core/models/<modality>/tree.py``) — e.g. VGG16 → ``block1`` …
``block5`` → conv/pool layers → ``head``; BERT → ``embeddings``, ``transformer_layer_i``
→ attention, feed-forward and norms → ``pooled_dense`` → ``head``.

Each leaf owns Keras variables and one ``trainable`` flag per variable, so a leaf can be
*partial* (e.g. BitFit: only its bias trains). Groups derive their state from their
children and setting a group cascades. Nothing touches the Keras model until
:meth:`LayerTree.apply_to_model`; the model must then be compiled again with a fresh
optimizer (``training.compile.compile_model``).

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

from desktop_ft.core.errors import UserError
from desktop_ft.core.layer_tree.nodes import (
    OFF,
    ON,
    PARTIAL,
    Node,
    can_train,
    flags_for,
    is_bias,
    is_lora,
    size_of,
)
from desktop_ft.core.layer_tree.trainability import (
    count_keras_params,
    set_strategy_flags,
    write_to_model,
)


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
        """Set the tree to one of :data:`~.trainability.STRATEGIES`
        (:func:`.trainability.set_strategy_flags` says what each trains).

        ``lora``/``qlora`` need a model with LoRA enabled
        (``training.strategy.prepare_strategy``);
        ``two-phase`` shows the phase-2 layers (those of ``partial``); phase 1 trains the
        head only.
        """
        set_strategy_flags(self, strategy, unfreeze_last)
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
        """Write the tree's flags into the Keras model (:func:`.trainability.write_to_model`);
        they take effect after the model is compiled again."""
        write_to_model(self)

    def model_totals(self) -> tuple[int, int]:
        """(trainable, frozen) as Keras counts them — equals :meth:`totals` after apply."""
        return count_keras_params(self.model)

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
