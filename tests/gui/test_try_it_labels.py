"""Try it for a multi-label model (issue 32, point 7): each label's bar with its threshold
marked where the threshold is, the labels that reach their thresholds named with their
probabilities; a single-label model keeps its one bar per class."""

import types

import pytest
from PySide6.QtGui import QColor

from desktop_ft.core.models.decision import Decision


def tried(session, classes, decision, probs):
    """The model tried on one input, as the controller reports it."""
    session.set_bundle(types.SimpleNamespace(classes=classes, decision=decision,
                                             input_kind="text"))
    session.result_ops._on_predicted({"probs": probs, "explanation": None})


def test_each_label_has_its_threshold_marked(panel_and_session, qtbot):
    from desktop_ft.gui.widgets.label_bars import MARK_COLOUR, PASS_COLOUR

    panel, session = panel_and_session
    labels, thresholds = ["billing", "delivery", "refund"], [0.3, 0.8, 0.5]
    tried(session, labels, Decision(multi_label=True, thresholds=thresholds),
          [0.45, 0.75, 0.9])
    bars = panel.label_bars
    assert bars.isVisible() and not panel.bars.isVisible()
    # Most probable first; a label passes when its probability reaches its threshold
    # (delivery at 0.75 does not reach 0.8 though it beats billing's 0.45).
    assert [(r["label"], r["threshold"], r["passes"]) for r in bars.rows] == [
        ("refund", 0.5, True), ("delivery", 0.8, False), ("billing", 0.3, True)]
    assert bars.passing() == ["refund", "billing"]
    assert panel.result.text() == "<b>refund</b> (90.0%), <b>billing</b> (45.0%)"
    qtbot.waitUntil(lambda: bars.width() > 200)
    image = bars.grab().toImage()
    for i, row in enumerate(bars.rows):
        track = bars.bar_rect(i)
        x = bars.mark_x(i)
        assert x == pytest.approx(track.left() + row["threshold"] * track.width())
        y = int(track.center().y())
        # The red mark is drawn there, and the bar is filled up to the probability:
        # green when the label passes, grey when not.
        assert QColor(image.pixel(round(x), y)) == MARK_COLOUR, row
        inside = int(track.left() + row["probability"] * track.width()) - 3
        colour = QColor(image.pixel(inside, int(track.top()) + 2))
        assert (colour == PASS_COLOUR) == row["passes"], row
    # None past its threshold: said so.
    tried(session, labels, Decision(multi_label=True, thresholds=thresholds),
          [0.1, 0.2, 0.3])
    assert bars.passing() == [] and panel.result.text() == "No label reaches its threshold."


def test_single_label_keeps_one_bar_per_class(panel_and_session):
    panel, session = panel_and_session
    tried(session, ["cat", "dog"], Decision(), [0.2, 0.8])
    assert panel.bars.isVisible() and not panel.label_bars.isVisible()
    assert panel.bars.values == {"cat": 0.2, "dog": 0.8}
    assert panel.result.text() == "<b>dog</b> (80.0%)"
