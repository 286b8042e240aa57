"""Try it's "unknown" (issue 32, point 6): the control sets the confidence below which
the answer is "unknown" on the model the window holds (kept by its calibration, carried
by exports made afterwards), the project file keeps it, and a multi-label model has no
"unknown"."""

import types


from desktop_ft.core.models.decision import Decision


def model(decision):
    return types.SimpleNamespace(classes=["cat", "dog"], decision=decision,
                                 input_kind="images")


def tried(session, probs):
    session.result_ops._on_predicted({"probs": probs, "explanation": None})


def test_try_it_answers_unknown_below_the_chosen_confidence(panel_and_session):
    panel, session = panel_and_session
    bundle = model(Decision(temperature=2.0))
    session.set_bundle(bundle)
    assert not panel.unknown_percent.isEnabled()
    tried(session, [0.6, 0.4])
    assert panel.result.text() == "<b>cat</b> (60.0%)"
    panel.unknown_toggle.setChecked(True)
    assert panel.unknown_percent.isEnabled()
    panel.unknown_percent.setValue(70)
    assert session.unknown_below == 0.7
    # The model's decision answers so (its temperature kept): exports carry it.
    assert bundle.decision.unknown_below == 0.7 and bundle.decision.temperature == 2.0
    tried(session, [0.6, 0.4])
    assert panel.result.text() == ("<b>unknown</b> — the most probable, cat (60.0%), is "
                                   "below 70%")
    assert panel.bars.values == {"cat": 0.6, "dog": 0.4}     # the bars still show both
    tried(session, [0.2, 0.8])
    assert panel.result.text() == "<b>dog</b> (80.0%)"
    # A model trained or loaded next gets the same setting.
    later = model(Decision())
    session.set_bundle(later)
    assert later.decision.unknown_below == 0.7
    panel.unknown_toggle.setChecked(False)
    assert session.unknown_below is None and later.decision.unknown_below is None
    tried(session, [0.6, 0.4])
    assert panel.result.text() == "<b>cat</b> (60.0%)"


def test_the_project_file_keeps_it(panel_and_session, tmp_path):
    from desktop_ft.core.project import load_project

    panel, session = panel_and_session
    panel.unknown_toggle.setChecked(True)
    panel.unknown_percent.setValue(55)
    path = str(tmp_path / "p.json")
    session.save_project(path, {})
    assert load_project(path).unknown_below == 0.55
    panel.unknown_toggle.setChecked(False)
    session.projectOpened.emit(load_project(path))
    assert panel.unknown_toggle.isChecked() and panel.unknown_percent.value() == 55
    assert session.unknown_below == 0.55


def test_a_multi_label_model_has_no_unknown(panel_and_session):
    panel, session = panel_and_session
    panel.unknown_toggle.setChecked(True)
    bundle = model(Decision(multi_label=True, thresholds=[0.5, 0.5]))
    session.set_bundle(bundle)
    assert not panel.unknown_toggle.isEnabled() and not panel.unknown_percent.isEnabled()
    assert bundle.decision.unknown_below is None
