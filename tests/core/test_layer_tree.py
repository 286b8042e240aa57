"""The layer tree's totals equal Keras's after apply_to_model, for every strategy, on
both modalities; groups cascade; patterns are shell globs on path or name."""

import pytest

from desktop_ft.core.errors import UserError
from desktop_ft.core.layer_tree import OFF, ON, PARTIAL, TREE_STRATEGIES
from desktop_ft.core.models import ModelSpec, load_model, with_num_classes


@pytest.fixture(scope="module")
def vgg():
    return load_model(ModelSpec("vgg16", weights="none", image_size=32, num_classes=3))


@pytest.fixture(scope="module")
def bert(tiny_bert_preset):
    return load_model(ModelSpec("bert", preset=str(tiny_bert_preset), seq_len=16,
                                num_classes=3))


def keras_counts(model):
    import numpy as np

    t = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
    f = sum(int(np.prod(v.shape)) for v in model.non_trainable_weights)
    return t, f


def test_vgg16_tree_shape(vgg):
    top = [n.name for n in vgg.tree.root.children]
    assert top == ["block1", "block2", "block3", "block4", "block5", "head"]
    block1 = vgg.tree.find("block1")
    assert [c.name for c in block1.children] == ["block1_conv1", "block1_conv2", "block1_pool"]
    conv = vgg.tree.find("block1/block1_conv1")
    assert conv.kind == "Conv2D" and conv.params == 1792
    assert conv.output_shape == "(None, 32, 32, 64)"
    assert vgg.tree.root.params == 14_714_688 + 1_539   # NOTES.md: notop + GAP/Dense(3)


def test_bert_tree_shape(bert):
    top = [n.name for n in bert.tree.root.children]
    assert top == ["embeddings", "transformer_layer_0", "transformer_layer_1", "pooled_dense",
                   "head"]
    enc = bert.tree.find("transformer_layer_0")
    assert [c.name for c in enc.children] == ["self_attention_layer",
                                              "self_attention_layer_norm", "feedforward",
                                              "feedforward_layer_norm"]
    attn = bert.tree.find("transformer_layer_0/self_attention_layer")
    assert [c.name for c in attn.children] == ["query", "key", "value", "attention_output"]
    assert [c.name for c in bert.tree.find("transformer_layer_0/feedforward").children] == \
        ["feedforward_intermediate_dense", "feedforward_output_dense"]


@pytest.mark.parametrize("modality", ["vgg", "bert"])
@pytest.mark.parametrize("strategy", TREE_STRATEGIES + ("two-phase",))
@pytest.mark.parametrize("last", [1, 2])
def test_tree_totals_equal_keras_for_every_strategy(request, modality, strategy, last):
    bundle = request.getfixturevalue(modality)
    tree = bundle.tree
    tree.apply_strategy(strategy, unfreeze_last=last)
    tree.apply_to_model()
    assert tree.totals() == keras_counts(bundle.model)
    assert tree.model_totals() == tree.totals()


@pytest.mark.parametrize("modality,patterns", [
    ("vgg", [("unfreeze", "block5"), ("freeze", "block5_conv2")]),
    ("vgg", [("unfreeze", "block[34]*"), ("freeze", "*pool")]),
    ("bert", [("unfreeze", "transformer_layer_1/self_attention_layer/*"),
              ("freeze", "key")]),
    ("bert", [("unfreeze", "*layer_norm")]),
])
def test_patterns_then_apply_match_keras(request, modality, patterns):
    bundle = request.getfixturevalue(modality)
    tree = bundle.tree
    tree.apply_strategy("head")
    tree.apply_patterns(patterns)
    tree.apply_to_model()
    assert tree.totals() == keras_counts(bundle.model)


def test_refreezing_after_partial_changes_keras_counts(vgg):
    """The TF pitfall: re-unfreezing a layer after freezing its sublayers one by one."""
    tree = vgg.tree
    tree.apply_strategy("full")
    tree.apply_to_model()
    tree.apply_strategy("head")
    tree.apply_to_model()
    assert keras_counts(vgg.model)[0] == 1539
    tree.apply_strategy("full")
    tree.apply_to_model()
    assert keras_counts(vgg.model) == (vgg.tree.root.params, 0)


def test_group_state_and_cascade(vgg):
    tree = vgg.tree
    tree.apply_strategy("head")
    block5 = tree.find("block5")
    assert block5.state == OFF
    tree.set_trainable("block5/block5_conv3", True)
    assert block5.state == PARTIAL
    tree.set_trainable(block5, True)
    assert block5.state == ON and all(c.state == ON for c in block5.children)
    assert tree.strategy == "custom"


def test_freeze_up_to_and_unfreeze_from(vgg):
    tree = vgg.tree
    tree.apply_strategy("full")
    tree.freeze_up_to("block3")
    states = {n.name: n.state for n in tree.root.children}
    assert states == {"block1": OFF, "block2": OFF, "block3": OFF, "block4": ON,
                      "block5": ON, "head": ON}
    tree.set_all(False)
    tree.unfreeze_from("block4/block4_conv3")
    assert tree.find("block4").state == PARTIAL and tree.find("block5").state == ON


def test_bitfit_leaves_are_partial_with_bias_counts(bert):
    tree = bert.tree
    tree.apply_strategy("bitfit")
    q = tree.find("transformer_layer_0/self_attention_layer/query")
    assert q.state == PARTIAL
    assert q.trainable_params == 16   # the bias of a 16-wide projection
    assert tree.find("head").state == ON


def test_unknown_pattern_is_an_error(vgg):
    with pytest.raises(UserError, match="matches no layer"):
        vgg.tree.apply_patterns([("freeze", "block9*")])


def test_states_survive_a_new_head(vgg):
    tree = vgg.tree
    tree.apply_strategy("partial", unfreeze_last=2)
    before = {p: f for p, f in tree.states().items() if not p.startswith("head")}
    bigger = with_num_classes(vgg, 5, ["a", "b", "c", "d", "e"])
    assert bigger.model.output_shape == (None, 5)
    after = {p: f for p, f in bigger.tree.states().items() if not p.startswith("head")}
    assert after == before
    assert bigger.tree.find("head").state == ON
    # The pretrained layers are shared, not copied.
    assert bigger.model.get_layer("block1_conv1") is vgg.model.get_layer("block1_conv1")


def test_binary_head_is_one_sigmoid_unit(tiny_bert_preset):
    vgg2 = load_model(ModelSpec("vgg16", weights="none", image_size=32, num_classes=2))
    assert vgg2.model.output_shape == (None, 1)
    assert vgg2.model.layers[-1].activation.__name__ == "sigmoid"
    bert2 = load_model(ModelSpec("bert", preset=str(tiny_bert_preset), seq_len=16))
    probs = bert2.predict_proba(["good", "bad bad"])
    assert probs.shape == (2, 2)
    assert abs(float(probs.sum(axis=1).max()) - 1.0) < 1e-6


def test_render_lists_every_node_and_totals(vgg):
    vgg.tree.apply_strategy("head")
    text = vgg.tree.render()
    assert "[ ] block1_conv1" in text and "[x] head_output" in text
    assert "Trainable: 1,539 of 14,716,227 parameters" in text


def test_unfreeze_last_above_the_block_count_unfreezes_every_block(vgg):
    """VGG16 has 5 blocks: asking for 6 unfreezes all 5 (a negative slice once left only
    block 5), and the tree says so in words a front end can show."""
    from desktop_ft.core.observer import Observer
    from desktop_ft.core.training import prepare_strategy

    tree = vgg.tree
    said = []

    class Recorder(Observer):
        def on_status(self, message):
            said.append(message)

    prepare_strategy(vgg, "partial", unfreeze_last=6, observer=Recorder())
    blocks = [tree.find(f"block{i}") for i in range(1, 6)]
    assert [b.state for b in blocks] == [ON] * 5
    assert tree.block_count == 5
    assert any("all 5 blocks" in m for m in said), said
    assert tree.unfreeze_last_note(6) is not None and tree.unfreeze_last_note(5) is None


def test_cli_says_all_5_blocks(capsys):
    from desktop_ft.cli import main

    assert main(["layers", "--model", "vgg16", "--weights", "none", "--image-size", "32",
                 "--strategy", "partial", "--unfreeze-last", "6"]) == 0
    out = capsys.readouterr().out
    assert "all 5 blocks" in out
    assert "[ ] block1_conv1" not in out and "[x] block1_conv1" in out
