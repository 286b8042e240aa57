"""What every strategy must do to any architecture's tree, shared by the image and text
conformance tests."""

from __future__ import annotations

from desktop_ft.core.training.strategy import prepare_strategy
from desktop_ft.core.layer_tree.nodes import is_bias, is_lora


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


def check_bitfit_moves_biases(bundle, inputs, labels) -> None:
    """One training step of ``bundle``'s model, set to BitFit, on ``inputs``: backbone
    biases move (at least half of them: a bias under a ReLU dead on every input gets no
    gradient), every other backbone weight stays bit-identical. Adam steps each weight
    with a gradient by about its learning rate, however small the gradient."""
    import keras
    import numpy as np

    head = head_ids(bundle.tree)
    model = bundle.model
    backbone = [v for v in model.weights if id(v) not in head]
    before = [np.array(v.numpy(), copy=True) for v in backbone]
    trained = {id(v) for v in model.trainable_weights if id(v) not in head}
    assert trained and all(is_bias(v) for v in backbone if id(v) in trained)
    # Eagerly: one step, without tracing a train function for a single call.
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="categorical_crossentropy",
                  run_eagerly=True)
    model.train_on_batch(inputs, labels)
    moved = {id(v) for v, b in zip(backbone, before) if not np.array_equal(v.numpy(), b)}
    assert moved <= trained, [v.path for v in backbone if id(v) in moved - trained]
    assert len(moved) >= len(trained) / 2, \
        [v.path for v in backbone if id(v) in trained - moved]
