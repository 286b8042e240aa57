"""A multi-label session saved as a project file and opened again (issue 32, point 7): the
file says the table holds several labels per row, and the reopened session has the
table read that way and a model with one sigmoid per label."""

import json


def test_a_multi_label_project_reopens_multi_label(qtbot, tmp_path, tiny_bert_preset):
    from desktop_ft.core import data
    from desktop_ft.core.models import ModelSpec, load_model
    from desktop_ft.gui.controller import SessionController

    table = tmp_path / "tickets.csv"
    rows = ["text,labels"] + [f"this is a good ticket {i},{labels}" for i, labels in
                              enumerate(["billing;delivery", "delivery", "billing",
                                         "refund|billing", "", "refund"] * 3)]
    table.write_text("\n".join(rows) + "\n")
    scan = data.scan(str(table))
    assert scan.multi_label
    model = {"architecture": "bert", "preset": str(tiny_bert_preset), "seq_len": 16}
    session = SessionController()
    session.set_scan(scan, (None, None), {})
    session.set_bundle(load_model(ModelSpec.from_dict(
        {**model, "num_classes": 3, "multi_label": True})))
    path = tmp_path / "tickets.dftproj"
    session.projects.save(str(path), {"model": model, "epochs": 2, "batch_size": 4})
    saved = json.loads(path.read_text())
    assert saved["job"]["multi_label"] is True and saved["job"]["data"] == str(table)

    reopened = SessionController()
    with qtbot.waitSignal(reopened.bundleChanged, timeout=120_000):
        reopened.projects.open(str(path))
    assert reopened.scan.multi_label and reopened.scan.classes == ["billing", "delivery",
                                                                   "refund"]
    assert reopened.data_fields()["multi_label"] is True
    bundle = reopened.bundle
    assert bundle.multi_label and bundle.decision.multi_label
    assert bundle.model.output_shape == (None, 3) and not bundle.binary
    from desktop_ft.gui.task_runner import live_workers

    qtbot.waitUntil(lambda: not live_workers(), timeout=30_000)
