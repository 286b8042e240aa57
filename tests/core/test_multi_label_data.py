"""Multi-label data (issue 32, point 1): a label column with several labels per row, one
0/1 column per label, images named by a table; the facts a scan states about them; bad
cells skipped and listed; the validation split and the multi-hot targets."""

from __future__ import annotations

import json
from itertools import combinations

import numpy as np
import pytest
from PIL import Image

from desktop_ft.cli import main
from desktop_ft.core import data
from desktop_ft.core.data import splits
from desktop_ft.core.data.corrections import apply_corrections
from desktop_ft.core.data.datasets import targets_and_weights
from desktop_ft.core.errors import UserError
from desktop_ft.core.training import TrainJob

TICKETS = [("card charged twice", "billing;refund"), ("parcel never came", "delivery"),
           ("late box and a double charge", "billing; delivery"),
           ("money back for the late box", "refund|delivery|billing"),
           ("thanks, all good", ""), ("invoice is wrong", "billing")]


def write(path, text: str):
    path.write_text(text, encoding="utf-8")
    return path


def tickets_csv(tmp_path, rows=TICKETS, name="tickets.csv"):
    lines = ["text,labels"] + [f'"{t}",{labels}' for t, labels in rows]
    return write(tmp_path / name, "\n".join(lines) + "\n")


def test_label_cells_with_several_labels_make_a_multi_label_scan(tmp_path):
    scan = data.scan(tickets_csv(tmp_path))
    assert scan.multi_label and scan.kind == "text"
    assert "multi-label" in scan.layout and "several labels per row" in scan.layout
    assert scan.classes == ["billing", "delivery", "refund"]
    assert scan.train.items[2] == "late box and a double charge"
    assert scan.train.labels == [(0, 2), (1,), (0, 1), (0, 1, 2), (), (0,)]
    assert scan.counts() == {"billing": 4, "delivery": 3, "refund": 2}
    assert scan.examples() == 6          # rows, not the 9 label occurrences
    s = scan.summary()
    assert s["multi_label"] is True and s["no_label_rows"] == 1
    assert s["label_counts"] == {"billing": 4, "delivery": 3, "refund": 2}
    assert s["rare_labels"] == ["billing", "delivery", "refund"]      # all under 5 rows
    assert any("1 row(s) have no label" in w for w in scan.warnings)
    assert any("'refund' is on only 2 row(s)" in w for w in scan.warnings)


def test_a_comma_table_with_semicolon_cells_stays_comma_delimited(tmp_path):
    """No commas in the texts, a ';' in every label cell: still a comma table."""
    rows = [(f"text number {i}", "a;b" if i % 2 else "b;c") for i in range(12)]
    path = write(tmp_path / "t.csv", "text,labels\n" + "".join(f"{t},{lab}\n"
                                                               for t, lab in rows))
    scan = data.scan(path)
    assert scan.classes == ["a", "b", "c"] and scan.train.items[0] == "text number 0"
    assert scan.train.labels[:2] == [(1, 2), (0, 1)]


def test_a_semicolon_table_with_pipe_cells(tmp_path):
    path = write(tmp_path / "t.csv", "text;labels\nhello, world;a|b\nbye;b\nagain;a\n")
    scan = data.scan(path)
    assert scan.train.items == ["hello, world", "bye", "again"]
    assert scan.train.labels == [(0, 1), (1,), (0,)]


def test_single_label_tables_stay_single_label_unless_forced(tmp_path):
    path = write(tmp_path / "t.csv", "text,label\nfine,pos\nbad,neg\nok,pos\n")
    plain = data.scan(path)
    assert not plain.multi_label and plain.train.labels == [1, 0, 1]
    assert "multi_label" not in plain.summary()
    forced = data.scan(path, multi_label=True)
    assert forced.multi_label and forced.train.labels == [(1,), (0,), (1,)]
    with pytest.raises(UserError, match="several labels in a row"):
        data.scan(tickets_csv(tmp_path), multi_label=False)
    with pytest.raises(UserError, match="one subfolder per class|table"):
        data.scan(tmp_path, multi_label=True)


def test_train_job_multi_label_round_trips():
    job = TrainJob(data="t.csv", multi_label=True)
    assert TrainJob.from_dict(json.loads(json.dumps(job.to_dict()))).multi_label is True
    assert TrainJob().multi_label is False


def test_one_hot_columns(tmp_path):
    path = write(tmp_path / "oh.csv", "text,billing,delivery,refund\n"
                 "charged twice,1,0,1\nlate,0,1,0\nfine,0,0,0\nboth,1,1,0\n"
                 "bad cell,1,yes,0\nempty cell,1,,0\nshort row,1\n")
    scan = data.scan(path)
    assert scan.multi_label and "one-hot" in scan.layout
    assert scan.classes == ["billing", "delivery", "refund"]          # the header's order
    assert scan.train.items == ["charged twice", "late", "fine", "both"]
    assert scan.train.labels == [(0, 2), (1,), (), (0, 1)]
    assert scan.skipped == [
        (f"{path}:6", "one-hot cell 'yes' in column 'delivery' is not 0 or 1"),
        (f"{path}:7", "empty cell in column 'delivery'"),
        (f"{path}:8", "missing columns")]
    assert scan.summary()["no_label_rows"] == 1
    with pytest.raises(UserError, match="one-hot"):
        data.scan(path, multi_label=False)


def test_one_hot_is_not_guessed_from_other_columns(tmp_path):
    path = write(tmp_path / "t.csv", "text,stars,votes\nhi,5,12\nho,3,7\n")
    with pytest.raises(UserError, match="no label column"):
        data.scan(path)


def test_bad_cells_are_skipped_and_listed(tmp_path):
    path = write(tmp_path / "t.csv", "text,labels\n,a\nfine,a;b\nshort\nok,b\n")
    scan = data.scan(path)
    assert scan.skipped == [(f"{path}:2", "empty text"), (f"{path}:4", "missing columns")]
    assert scan.train.labels == [(0, 1), (1,)]


def test_cooccurrence_matches_a_hand_count(tmp_path):
    rows = [("r1", "a;b;c"), ("r2", "a;b"), ("r3", "b;c"), ("r4", "a"), ("r5", "c;a"),
            ("r6", "b;a"), ("r7", "")]
    scan = data.scan(tickets_csv(tmp_path, rows))
    hand: dict[tuple, int] = {}
    for _, cell in rows:
        for pair in combinations(sorted(x for x in cell.split(";") if x), 2):
            hand[pair] = hand.get(pair, 0) + 1
    assert hand == {("a", "b"): 3, ("a", "c"): 2, ("b", "c"): 2}
    got = {tuple(p["labels"]): p["count"] for p in scan.summary()["cooccurrence"]}
    assert got == hand
    assert scan.summary()["cooccurrence"][0] == {"labels": ["a", "b"], "count": 3}
    assert scan.summary()["labels_per_row"] == pytest.approx(12 / 7, abs=1e-3)


def _png(path, color=(200, 30, 30)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), color).save(path)
    return path


def test_images_from_a_table_relative_and_absolute(tmp_path):
    _png(tmp_path / "pics" / "a.png")
    _png(tmp_path / "pics" / "b.png", (0, 0, 255))
    elsewhere = _png(tmp_path.parent / f"{tmp_path.name}_abs" / "c.png", (0, 255, 0))
    (tmp_path / "pics" / "broken.png").write_bytes(b"not a png")
    path = write(tmp_path / "photos.csv", "path,labels\npics/a.png,dog;cat\npics/b.png,cat\n"
                 f"{elsewhere},dog\npics/missing.png,cat\npics/broken.png,dog\n")
    scan = data.scan(path)
    assert scan.kind == "images" and scan.multi_label and "image column 'path'" in scan.layout
    assert scan.train.items == [str(tmp_path / "pics" / "a.png"),
                                str(tmp_path / "pics" / "b.png"), str(elsewhere)]
    assert scan.train.labels == [(0, 1), (0,), (1,)]
    reasons = dict(scan.skipped)
    assert reasons[str(tmp_path / "pics" / "missing.png")] == "no such image file"
    assert "image" in reasons[str(tmp_path / "pics" / "broken.png")]
    # An image model asks for images: the same table is read so.
    assert data.scan(path, "images").train.items == scan.train.items


def test_single_label_and_one_hot_image_tables(tmp_path):
    for i in range(4):
        _png(tmp_path / f"{i}.jpg")
    single = data.scan(write(tmp_path / "s.csv", "filename,label\n0.jpg,cat\n1.jpg,dog\n"))
    assert single.kind == "images" and not single.multi_label and single.train.labels == [0, 1]
    one_hot = data.scan(write(tmp_path / "o.csv", "image,cat,dog\n0.jpg,1,1\n1.jpg,0,1\n"
                              "2.jpg,0,0\n3.jpg,1,x\n"))
    assert one_hot.kind == "images" and one_hot.train.labels == [(0, 1), (1,), ()]
    assert one_hot.skipped == [(f"{tmp_path / 'o.csv'}:5",
                                "one-hot cell 'x' in column 'dog' is not 0 or 1")]
    with pytest.raises(UserError, match="image-path column"):
        data.scan(write(tmp_path / "t.csv", "text,label\nhi,a\nho,b\n"), "images")


def test_multi_hot_targets_and_weights(tmp_path):
    scan = data.scan(tickets_csv(tmp_path))
    y, w = targets_and_weights(scan.train, scan.num_classes, binary=False)
    assert y.dtype == np.float32 and y.shape == (6, 3)
    np.testing.assert_array_equal(y, [[1, 0, 1], [0, 1, 0], [1, 1, 0], [1, 1, 1], [0, 0, 0],
                                      [1, 0, 0]])
    np.testing.assert_array_equal(w, np.ones(6))
    weights = splits.class_weights(scan.train, scan.num_classes)   # 9 occurrences
    assert weights == pytest.approx({0: 9 / 12, 1: 9 / 9, 2: 9 / 6})
    _, w = targets_and_weights(scan.train, scan.num_classes, binary=True,
                               class_weights=weights)
    np.testing.assert_allclose(w, [1.5, 1.0, 1.0, 1.5, 1.0, 0.75])   # the rarest label's


def test_validation_split_of_label_sets(tmp_path):
    rows = [(f"row {i}", ["a;b", "a", "b", "a;c", ""][i % 5]) for i in range(40)]
    scan = data.scan(tickets_csv(tmp_path, rows))
    train, val = splits.split_validation(scan, 0.25, seed=1)
    assert len(train) + len(val) == 40 and len(val) == 10
    assert sorted(train.items + val.items) == sorted(scan.train.items)
    assert all(isinstance(y, tuple) for y in val.labels)
    # Stratified by the rarest label: c (8 rows) and the no-label rows reach validation.
    assert sum(2 in y for y in val.labels) == 2 and sum(y == () for y in val.labels) == 2


def test_corrections_exclude_but_refuse_relabel_on_multi_label(tmp_path):
    scan = data.scan(tickets_csv(tmp_path))
    apply_corrections(scan, [{"item": "parcel never came", "given": "delivery",
                              "decision": "exclude"}])
    assert "parcel never came" not in scan.train.items and len(scan.train) == 5
    with pytest.raises(UserError, match="several labels per row"):
        apply_corrections(scan, [{"item": "invoice is wrong", "given": "billing",
                                  "decision": "relabel", "label": "refund"}])


def test_cli_scan_prints_the_facts(tmp_path, capsys):
    path = tickets_csv(tmp_path)
    assert main(["scan", str(path)]) == 0
    out = capsys.readouterr().out
    assert "3 labels" in out and "rows with no label: 1" in out
    assert "billing + delivery: 2" in out and "Too rare to learn (fewer than 5 rows): " \
        "billing, delivery, refund" in out
    assert main(["scan", str(path), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["multi_label"] and s["no_label_rows"] == 1 and s["cooccurrence"][0]["count"] == 2
    single = write(tmp_path / "one.csv", "text,label\nfine,pos\nbad,neg\n")
    assert main(["scan", str(single), "--multi-label", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["multi_label"] is True
