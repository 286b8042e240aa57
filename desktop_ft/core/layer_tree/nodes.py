"""Rows of the layer tree: :class:`Node`, per-variable trainable flags, and the helpers a
modality's tree builder uses (:func:`leaf_node`, :func:`subtree_node`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterator

from desktop_ft.core import compat

ON, OFF, PARTIAL = "on", "off", "partial"


def _var_name(v) -> str:
    return v.path.rsplit("/", 1)[-1].split(":")[0]


def is_bias(v) -> bool:
    return _var_name(v) in ("bias", "beta")


def is_lora(v) -> bool:
    return _var_name(v).startswith("lora_")


def can_train(v) -> bool:
    """Quantized (integer) weights can never train, whatever the tree says."""
    return "float" in str(getattr(v, "dtype", "float32"))


def flags_for(leaf: "Node", value) -> list[bool]:
    """Per-variable flags for ``leaf``: ``value`` is a bool or a predicate on variables."""
    return [bool(value(v) if callable(value) else value) and can_train(v)
            for v in leaf.variables]


@dataclass(eq=False)
class Node:
    """One row of the tree. Leaves hold a Keras layer; groups hold children."""

    name: str
    path: str
    kind: str
    parent: "Node | None" = None
    children: list["Node"] = field(default_factory=list)
    layer: object = None
    variables: list = field(default_factory=list)
    var_trainable: list[bool] = field(default_factory=list)
    flag: bool = True           # the state of a leaf without variables (pooling, dropout)
    output_shape: str = ""
    input_shape: str = ""
    is_new: bool = False        # part of the freshly initialised head
    _sizes: tuple = field(default=(), repr=False)
    _sizes_key: tuple | None = field(default=None, repr=False)

    @property
    def is_leaf(self) -> bool:
        return self.layer is not None

    def leaves(self) -> Iterator["Node"]:
        if self.is_leaf:
            yield self
        for c in self.children:
            yield from c.leaves()

    def walk(self) -> Iterator["Node"]:
        yield self
        for c in self.children:
            yield from c.walk()

    @property
    def sizes(self) -> tuple[int, ...]:
        """Each variable's element count (cached: the window asks for every row's counts
        at each repaint, and a TensorFlow variable's shape is slow to read)."""
        key = tuple(map(id, self.variables))
        if self._sizes_key != key:
            self._sizes, self._sizes_key = tuple(size_of(v) for v in self.variables), key
        return self._sizes

    @property
    def params(self) -> int:
        return sum(sum(leaf.sizes) for leaf in self.leaves())

    @property
    def trainable_params(self) -> int:
        return sum(n for leaf in self.leaves()
                   for n, t in zip(leaf.sizes, leaf.var_trainable) if t)

    @property
    def state(self) -> str:
        if self.is_leaf:
            if not self.variables:
                return ON if self.flag else OFF
            if all(self.var_trainable):
                return ON
            return OFF if not any(self.var_trainable) else PARTIAL
        states = {c.state for c in self.children}
        if states == {ON}:
            return ON
        if states == {OFF} or not states:
            return OFF
        return PARTIAL

    @property
    def row(self) -> int:
        return self.parent.children.index(self) if self.parent else 0


def size_of(v) -> int:
    return int(math.prod(v.shape)) if v.shape else 1


def _own_variables(layer) -> list:
    return compat.own_variables(layer)


def _shape_str(shape) -> str:
    try:
        return str(tuple(None if d is None else int(d) for d in shape))
    except TypeError:
        return ""


def leaf_node(layer, parent: Node, is_new: bool) -> Node:
    variables = _own_variables(layer)
    out_shape = in_shape = ""
    try:
        out_shape = _shape_str(layer.output.shape)
        in_shape = _shape_str(layer.input.shape)
    except (AttributeError, ValueError, TypeError):
        pass
    path = f"{parent.path}/{layer.name}" if parent.path else layer.name
    return Node(layer.name, path, type(layer).__name__, parent=parent, layer=layer,
                variables=variables, var_trainable=[bool(v.trainable) and layer.trainable
                                                    for v in variables],
                flag=bool(layer.trainable), output_shape=out_shape, input_shape=in_shape,
                is_new=is_new)


def _lora_group(layer, parent: Node) -> Node:
    """A LoRA'd layer: its own weights and, beneath, the adapter matrices."""
    variables = _own_variables(layer)
    base = [v for v in variables if not is_lora(v)]
    lora = [v for v in variables if is_lora(v)]
    group = leaf_node(layer, parent, False)
    group.kind = f"{type(layer).__name__} + LoRA"
    weights_leaf = Node("weights", f"{group.path}/weights", type(layer).__name__, parent=group,
                        layer=layer, variables=base,
                        var_trainable=[bool(v.trainable) for v in base],
                        output_shape=group.output_shape, input_shape=group.input_shape)
    rank = getattr(layer, "lora_rank", "?")
    adapter = Node("lora", f"{group.path}/lora", f"LoRA adapter (rank {rank})", parent=group,
                   layer=layer, variables=lora, var_trainable=[bool(v.trainable) for v in lora])
    group.layer, group.variables, group.var_trainable = None, [], []
    group.children = [weights_leaf, adapter]
    return group


def subtree_node(layer, parent: Node, is_new: bool) -> Node:
    """A leaf for a layer that owns weights, else a group of its weighted sublayers; a
    layer with both (Swin's window attention: a bias table, and its qkv and projection
    layers) is a group whose first leaf holds its own weights (a parent's ``trainable``
    is set before its sublayers')."""
    if any(is_lora(v) for v in _own_variables(layer)):
        return _lora_group(layer, parent)
    subs = [s for s in compat.direct_sublayers(layer) if s.weights]
    if not subs:
        return leaf_node(layer, parent, is_new)
    path = f"{parent.path}/{layer.name}" if parent.path else layer.name
    group = Node(layer.name, path, "group", parent=parent, is_new=is_new)
    if _own_variables(layer):
        group.children.append(leaf_node(layer, group, is_new))
    for s in subs:
        group.children.append(subtree_node(s, group, is_new))
    return group
