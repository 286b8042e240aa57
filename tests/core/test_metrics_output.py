"""The metrics where users read them: ``desktop-ft evaluate`` (text and --json) and the
HTML report, for single- and multi-label exports. The export is replaced by a stand-in
whose probabilities are known, so the numbers can be checked."""

import json

import numpy as np
import pytest

from desktop_ft.cli import inspect_commands, main
from desktop_ft.core.models.decision import Decision
from desktop_ft.core.training.metrics import multi_label_metrics, single_label_metrics


class FakeExport:
    def __init__(self, kind, labels, probs_for, decision=None):
        self.kind, self.labels, self.note = kind, labels, None
        self.meta = {"model": "stand-in", "decision": decision} if decision else {}
        self.decision = Decision.from_dict(decision)
        self.probs_for = probs_for

    def predict_proba(self, inputs):
        return np.asarray([self.probs_for(x) for x in inputs], np.float32)


def _images_export(monkeypatch):
    # predicts "red" for every image: accuracy 1/3, macro-F1 (0 + 0 + 0.5) / 3
    export = FakeExport("images", ["blue", "green", "red"], lambda x: [0.2, 0.1, 0.7])
    monkeypatch.setattr(inspect_commands, "_open_export", lambda folder: export)


def test_evaluate_prints_macro_f1_and_the_per_class_table(image_folder, monkeypatch, capsys,
                                                          tmp_path):
    _images_export(monkeypatch)
    report = tmp_path / "r.html"
    assert main(["evaluate", "OUT", "--data", str(image_folder), "--report",
                 str(report)]) == 0
    out = capsys.readouterr().out
    assert "macro-F1 0.1667" in out and "balanced accuracy 0.3333" in out
    assert "precision" in out and "recall" in out and "support" in out
    red = next(line for line in out.splitlines() if line.strip().startswith("red"))
    assert red.split()[1:] == ["0.3333", "1.0000", "0.5000", "8"]
    page = report.read_text()
    assert "<table class='per-class'>" in page and "Confusion matrix" in page
    assert "<td>33.3%</td><td>100.0%</td><td>50.0%</td><td>8</td>" in page   # red's row
    assert "Macro-F1</th><td>16.7%" in page


def test_evaluate_json_carries_the_new_metrics(image_folder, monkeypatch, capsys):
    _images_export(monkeypatch)
    assert main(["evaluate", "OUT", "--data", str(image_folder), "--json"]) == 0
    ev = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert ev["macro_f1"] == pytest.approx(1 / 6) and ev["balanced_accuracy"] == \
        pytest.approx(1 / 3)
    assert ev["per_class"]["red"] == {"precision": pytest.approx(1 / 3), "recall": 1.0,
                                      "f1": 0.5, "support": 8}
    assert ev["top5_accuracy"] is None and ev["roc_auc"] is None


@pytest.fixture()
def multi_label_csv(tmp_path):
    rows = ["text,labels"]
    for i in range(12):
        labels = ["billing"] if i % 2 else []
        if i % 3 == 0:
            labels.append("delivery")
        rows.append(f"ticket number {i} about {' and '.join(labels) or 'nothing'},"
                    f"{';'.join(labels)}")
    path = tmp_path / "tickets.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_multi_label_evaluate_prints_the_per_label_table_and_reports_it(
        multi_label_csv, monkeypatch, capsys, tmp_path):
    # billing is found exactly; delivery is predicted for every row (wrongly added on 8)
    def probs_for(text):
        return [0.9 if "billing" in text else 0.1, 0.6]

    export = FakeExport("text", ["billing", "delivery"], probs_for,
                        decision={"multi_label": True, "thresholds": [0.5, 0.5]})
    monkeypatch.setattr(inspect_commands, "_open_export", lambda folder: export)
    report = tmp_path / "r.html"
    assert main(["evaluate", "OUT", "--data", str(multi_label_csv), "--report",
                 str(report)]) == 0
    out = capsys.readouterr().out
    assert "micro-F1" in out and "exact match 0.3333" in out and "mAP" in out
    delivery = next(line for line in out.splitlines() if line.strip().startswith("delivery"))
    assert delivery.split()[1:4] == ["4", "8", "0"]          # TP, FP, FN
    page = report.read_text()
    assert "<table class='per-label'>" in page and "Confusion matrix" not in page
    assert "wrongly added <b>delivery</b>" in page
    assert main(["evaluate", "OUT", "--data", str(multi_label_csv), "--json"]) == 0
    ev = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert ev["multi_label"] and ev["per_label"]["billing"]["f1"] == 1.0


def test_report_tables_from_evaluation_dicts(tmp_path):
    from desktop_ft.core.report import write_report

    ev = single_label_metrics([0, 1, 1], [[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]], ["a", "b"])
    page = write_report(tmp_path / "s.html", evaluation=ev, mistakes=[], kind="text").read_text()
    assert "ROC-AUC</th><td>100.0%" in page and "<table class='per-class'>" in page
    ml = multi_label_metrics([(0,), (0, 1)], np.array([[0.9, 0.2], [0.8, 0.7]]), ["x", "y"])
    page = write_report(tmp_path / "m.html", evaluation=ml, mistakes=[],
                        kind="text").read_text()
    assert "Exact match</th><td>100.0%" in page and "<th>average precision</th>" in page


def test_model_card_metrics_tables():
    from desktop_ft.core.export.model_card import _metrics

    ev = single_label_metrics([0, 1, 1], [[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]], ["a", "b"])
    text = _metrics(ev)
    assert "macro-F1 66.7%" in text and "| b | 50.0% | 100.0% | 50.0% | 66.7% | 2 |" in text
    ml = multi_label_metrics([(0,), (0, 1)], np.array([[0.9, 0.2], [0.8, 0.7]]), ["x", "y"])
    text = _metrics(ml)
    assert "exact match 100.0%" in text and "| y | 0.500 | 1 | 0 | 0 |" in text


def test_the_epoch_line_shows_validation_macro_f1():
    import io

    from desktop_ft.cli.printing import PrintingObserver

    stream = io.StringIO()
    PrintingObserver(stream).on_epoch(0, {"loss": 0.5, "val_loss": 0.6, "val_macro_f1": 0.25})
    assert "val_macro_f1 0.2500" in stream.getvalue()
