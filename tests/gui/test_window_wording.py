"""What the window says in its own words (issue 31): "Last N blocks" counts to the loaded
model's blocks and says "all 5 blocks" there; messages name the window's controls, never
a command-line flag; the class-weights box reaches the training job."""

from tests.gui.conftest import click, load_tiny_vgg


def test_last_n_is_bounded_by_the_models_blocks_and_says_all(qtbot, window):
    w = window
    spin = w.layers_panel.unfreeze_last
    bundle = load_tiny_vgg(qtbot, w)
    assert bundle.tree.block_count == 5
    assert spin.maximum() == 5
    spin.setValue(24)
    assert spin.value() == 5 and spin.text() == "N = 5 (all 5 blocks)"
    click(qtbot, w.layers_panel.buttons["partial"])
    qtbot.waitUntil(lambda: w.controller.tasks.running() == 0)
    # Every block trains: block 1's first convolution too.
    assert bundle.model.get_layer("block1_conv1").trainable
    spin.setValue(2)
    assert spin.text() == "N = 2"
