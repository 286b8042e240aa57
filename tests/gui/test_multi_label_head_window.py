"""The window gives the loaded model one sigmoid per label as soon as a multi-label
table is dropped on it (issue 32), as it gives a new head for other classes; a model
loaded after such a table has that head from the start."""

from tests.core.multi_label_data import TEXT_LABELS, text_split
from tests.gui.conftest import LONG, drop_path, load_model


def _table(path, split) -> None:
    path.write_text("text,labels\n" + "".join(
        f"{text},{';'.join(TEXT_LABELS[i] for i in labels)}\n"
        for text, labels in zip(split.items, split.labels)))


def test_dropped_label_sets_give_the_model_a_sigmoid_per_label(qtbot, window,
                                                                tiny_bert_preset, tmp_path):
    w, c = window, window.controller
    bundle = load_model(qtbot, w, architecture="bert", preset=str(tiny_bert_preset),
                        seq_len=16)
    assert not bundle.multi_label and bundle.model.output_shape == (None, 1)
    table = tmp_path / "sentences.csv"
    _table(table, text_split(24, seed=4))
    drop_path(w, table)
    qtbot.waitUntil(lambda: c.scan is not None and c.bundle is not None
                    and c.bundle.multi_label, timeout=LONG)
    assert c.scan.multi_label and c.bundle.model.output_shape == (None, 3)
    assert c.bundle.classes == TEXT_LABELS and c.bundle.decision.multi_label
    # Loaded again with that table in the window: the head is per label at once.
    again = load_model(qtbot, w, architecture="bert", preset=str(tiny_bert_preset),
                       seq_len=16)
    assert again.multi_label and again.model.output_shape == (None, 3)
