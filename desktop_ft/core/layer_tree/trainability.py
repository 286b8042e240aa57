"""Which weights train: the named strategies, as flags on a
:class:`~desktop_ft.core.layer_tree.LayerTree`, and the tree's flags written into its
Keras model.

A strategy only sets the tree's per-variable flags (:func:`set_strategy_flags`); nothing
touches Keras until :func:`write_to_model`, which survives the known ``trainable``
pitfalls. The model must then be compiled again with a fresh optimizer
(``training.compile.compile_model``): trainable changes take effect only then.
"""

from __future__ import annotations

from desktop_ft.core import compat
from desktop_ft.core.errors import UserError
from desktop_ft.core.layer_tree.nodes import flags_for, is_bias, is_lora, size_of

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


# ---------------------------------------------------------------------- strategies
def check_strategy(tree, strategy: str) -> None:
    """A :class:`UserError` when ``strategy`` is unknown or this tree cannot take it."""
    if strategy not in STRATEGIES:
        raise UserError(f"Unknown strategy '{strategy}' for the layer tree. Choose one of: "
                        f"{', '.join(STRATEGIES)}.")
    if strategy == "bitfit" and not tree.has_backbone_bias:
        # (MobileNetV2, DenseNet, Xception, ResNet: convolutions without bias, each
        # followed by a BatchNormalization that stays frozen.) Else BitFit would
        # silently be head-only training.
        raise UserError("BitFit trains the bias terms of the pretrained layers, and this "
                        "model has none outside BatchNormalization, which stays frozen: "
                        "only the head would train. Choose head (the same training), "
                        "partial or full, or let BatchNormalization train.")
    if strategy in ("lora", "qlora") and not tree.has_lora:
        raise UserError(f"The {strategy} strategy needs LoRA adapters in the model; "
                        "prepare it with desktop_ft.core.training.prepare_strategy "
                        "first.")


def set_strategy_flags(tree, strategy: str, unfreeze_last: int = 1) -> None:
    """Set every leaf's flags as ``strategy`` wants them (checked first)."""
    check_strategy(tree, strategy)
    if strategy == "full":
        tree.set_all(True)
        return
    tree.set_all(False)
    for leaf in tree.leaves():
        if leaf.is_new:
            leaf.var_trainable = flags_for(leaf, True)
            leaf.flag = True
    if strategy in ("lora", "qlora"):
        for leaf in tree.leaves():
            if not leaf.is_new:
                leaf.var_trainable = flags_for(leaf, is_lora)
    if strategy in ("partial", "two-phase"):
        _unfreeze_last_blocks(tree, unfreeze_last)
    elif strategy == "bitfit":
        for leaf in tree.leaves():
            if not leaf.is_new:
                # A kept-frozen BatchNorm's beta stays frozen too: a partly
                # trainable BN layer would run in training mode.
                frozen = leaf.kind in tree.keep_frozen
                leaf.var_trainable = flags_for(leaf, False if frozen else is_bias)
                leaf.flag = False


def _unfreeze_last_blocks(tree, unfreeze_last: int) -> None:
    if unfreeze_last < 0:
        raise UserError("--unfreeze-last must be 0 or more.")
    # Clamped: a slice from len - N goes negative when N exceeds the blocks,
    # and a negative start counts from the end (6 of VGG16's 5 was block 5).
    unfreeze_last = min(unfreeze_last, tree.block_count)
    chosen = tree.units[len(tree.units) - unfreeze_last:] if unfreeze_last else []
    if unfreeze_last:
        chosen = chosen + tree.partial_extras
    for unit in chosen:
        tree.set_trainable(unit, True, notify=False)


# ---------------------------------------------------------------------- the model
def write_to_model(tree) -> None:
    """Write the tree's flags into its Keras model.

    Keras pitfalls handled here: a container's ``trainable`` overrides its children,
    and setting it to its current value may not cascade — so the whole model is set
    False then True first, then each leaf layer, then per-variable flags (a layer's
    ``trainable`` setter overwrites its variables' flags, so variables come last).
    Changes take effect only after the model is compiled again.
    """
    tree.model.trainable = False
    tree.model.trainable = True
    # A LoRA'd layer appears as two leaves (its weights, its adapter): gather by layer.
    by_layer: dict[int, tuple[object, list, bool]] = {}
    for leaf in tree.leaves():
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
    _drop_paths_when_frozen(tree.model)


def count_keras_params(model) -> tuple[int, int]:
    """(trainable, frozen) parameter counts as Keras counts them."""
    t = sum(size_of(v) for v in model.trainable_weights)
    f = sum(size_of(v) for v in model.non_trainable_weights)
    return t, f


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
