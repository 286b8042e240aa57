"""What every strategy must do to any architecture's tree, shared by the image and text
conformance tests."""

from __future__ import annotations

from desktop_ft.core.training.strategy import prepare_strategy
from desktop_ft.core.tree_nodes import is_bias, is_lora


def head_ids(tree) -> set[int]:
    """The ids of the new head's variables."""
    return {id(v) for leaf in tree.leaves() if leaf.is_new for v in leaf.variables}


def apply_and_check(bundle, strategy: str, *, bitfit_moves_backbone: bool = True):
    """``strategy`` prepared and applied to ``bundle``'s model: the tree's counts equal
    the model's, and of the backbone (everything but the new head) nothing trains with
    ``head``, only biases with ``bitfit`` (some when ``bitfit_moves_backbone``), only
    adapters with LoRA. Returns (the bundle, trainable parameters, the backbone's
    trainable variables)."""
    bundle = prepare_strategy(bundle, strategy, unfreeze_last=1, lora_rank=2)
    tree = bundle.tree
    tree.apply_to_model()
    assert tree.totals() == tree.model_totals(), strategy
    head = head_ids(tree)
    backbone = [v for v in bundle.model.trainable_weights if id(v) not in head]
    if strategy == "head":
        assert not backbone, [v.path for v in backbone]
    elif strategy == "bitfit":
        assert backbone or not bitfit_moves_backbone, strategy
        assert all(is_bias(v) for v in backbone), [v.path for v in backbone if not is_bias(v)]
    elif strategy in ("lora", "qlora"):
        assert backbone and all(is_lora(v) for v in backbone), \
            [v.path for v in backbone if not is_lora(v)]
    return bundle, tree.totals()[0], backbone
