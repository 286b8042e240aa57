"""Scanning and splitting data: every error case names what was expected; bad files are
skipped with a reason and never stop a scan."""

import numpy as np
import pytest
from PIL import Image

from desktop_ft.core import data
from desktop_ft.core.data import datasets, splits
from desktop_ft.core.errors import UserError
from tests.conftest import write_image_folder


def test_scan_image_folder_counts_and_kind(image_folder):
    scan = data.scan(image_folder)
    assert scan.kind == "images"
    assert scan.classes == ["blue", "green", "red"]
    assert scan.counts() == {"blue": 8, "green": 8, "red": 8}
    assert scan.skipped == [] and scan.warnings == []


def test_bad_files_are_skipped_with_reasons(tmp_path):
    root = write_image_folder(tmp_path / "d", per_class=6)
    (root / "red" / "zero.png").write_bytes(b"")
    (root / "red" / "fake.jpg").write_bytes(b"this is not a jpeg")
    (root / "red" / "notes.md").write_text("hello")
    good = root / "blue" / "blue_0.png"
    raw = good.read_bytes()
    (root / "blue" / "cut.png").write_bytes(raw[: len(raw) // 2])
    scan = data.scan(root)
    reasons = {p.rsplit("/", 1)[-1]: r for p, r in scan.skipped}
    assert reasons["zero.png"] == "zero bytes"
    assert reasons["fake.jpg"].startswith("not an image")
    assert reasons["notes.md"].startswith("not an image")
    assert "truncated" in reasons["cut.png"] or "unreadable" in reasons["cut.png"]
    assert scan.counts() == {"blue": 6, "green": 6, "red": 6}


def test_images_deeper_inside_class_folders_and_webp_gif(tmp_path):
    root = write_image_folder(tmp_path / "d", classes=("red", "blue"), per_class=3)
    deep = root / "red" / "2024" / "march"
    deep.mkdir(parents=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(deep / "a.webp")
    Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).convert("P").save(
        deep / "b.gif")
    scan = data.scan(root)
    assert scan.counts() == {"blue": 3, "red": 5}
    img = datasets.load_image_rgb(str(deep / "b.gif"))
    assert img.shape == (40, 40, 3) and img.dtype == np.uint8


@pytest.mark.parametrize("case,expected", [
    ("missing", "does not exist"),
    ("file", "is a file, not a dataset"),
    ("no_subfolders", "no class subfolders"),
    ("one_class", "only one class"),
    ("empty_class", "has no usable images"),
])
def test_dataset_errors_say_what_was_expected(tmp_path, case, expected):
    root = tmp_path / "d"
    if case == "file":
        root = tmp_path / "photo.jpg"
        root.write_bytes(b"x")
    elif case == "no_subfolders":
        root.mkdir()
        (root / "a.png").write_bytes(b"x")
    elif case == "one_class":
        write_image_folder(root, classes=("red",), per_class=2)
    elif case == "empty_class":
        write_image_folder(root, classes=("red", "blue"), per_class=2)
        (root / "green").mkdir()
        (root / "green" / "broken.png").write_bytes(b"")
    with pytest.raises(UserError, match=expected):
        data.scan(root)


def test_train_val_test_layout(tmp_path):
    for split, n in (("train", 6), ("validation", 2), ("test", 3)):
        write_image_folder(tmp_path / split, classes=("red", "blue"), per_class=n)
    scan = data.scan(tmp_path)
    assert scan.layout == "train/val/test folders"
    assert (len(scan.train), len(scan.val), len(scan.test)) == (12, 4, 6)
    train, val = splits.split_validation(scan, 0.5)
    assert val is scan.val   # an explicit validation folder wins over --val-split


def test_stratified_split_keeps_class_balance(image_folder):
    scan = data.scan(image_folder)
    train, val = splits.split_validation(scan, 0.25, seed=3)
    assert val.counts(3) == [2, 2, 2] and train.counts(3) == [6, 6, 6]
    assert not set(train.items) & set(val.items)
    again_train, _ = splits.split_validation(scan, 0.25, seed=3)
    assert again_train.items == train.items


def test_imbalance_and_tiny_class_warnings(tmp_path):
    write_image_folder(tmp_path / "d", classes=("red",), per_class=30)
    write_image_folder(tmp_path / "d", classes=("blue",), per_class=3, seed=1)
    scan = data.scan(tmp_path / "d")
    text = " ".join(scan.warnings)
    assert "only 3 example" in text and "imbalanced" in text
    weights = splits.class_weights(scan.train, 2)
    assert weights[0] > weights[1]   # blue (index 0) is the rare class


def test_text_folder_and_undecodable_files(text_folder, tmp_path):
    scan = data.scan(text_folder)
    assert scan.kind == "text" and scan.classes == ["neg", "pos"]
    assert all(isinstance(t, str) and t for t in scan.train.items)
    import shutil

    root = tmp_path / "t"
    shutil.copytree(text_folder, root)
    (root / "pos" / "latin1.txt").write_bytes("caf\xe9 bad".encode("latin-1"))
    (root / "pos" / "binary.txt").write_bytes(bytes(range(256)) * 3)
    (root / "pos" / "empty.txt").write_bytes(b"")
    scan = data.scan(root)
    reasons = dict((p.rsplit("/", 1)[-1], r) for p, r in scan.skipped)
    assert reasons == {"binary.txt": "undecodable text (neither UTF-8 nor a recognisable "
                                     "encoding)", "empty.txt": "zero bytes"}
    assert "café bad" in scan.train.items          # not UTF-8, read as Windows-1252


@pytest.mark.parametrize("encoding,text", [
    ("cp1252", "un café très agréable, “vraiment”"),
    ("cp1251", "привет мир, хороший фильм, очень хорошо"),
    ("utf-16", "naïve façade, déjà vu"),
])
def test_tables_in_other_encodings_are_read_and_named(tmp_path, encoding, text):
    """Excel on Windows saves CSV as cp1252: read it, and say which encoding was used."""
    path = tmp_path / "t.csv"
    rows = [f"\"{text} {i}\",{'a' if i % 2 else 'b'}" for i in range(6)]
    path.write_bytes(("text,label\n" + "\n".join(rows) + "\n").encode(encoding))
    scan = data.scan(path)
    assert scan.train.items[0] == f"{text} 0"
    assert "not UTF-8; it was read as" in scan.warnings[0]


def test_csv_and_tsv_columns(text_csv, tmp_path):
    scan = data.scan(text_csv)
    assert scan.kind == "text" and scan.classes == ["neg", "pos"] and len(scan.train) == 24
    tsv = tmp_path / "d.tsv"
    tsv.write_text("id\tsentiment\treview\n1\tyes\tvery good\n2\tno\tvery bad\n3\tyes\t\n")
    scan = data.scan(tsv)
    assert scan.train.items == ["very good", "very bad"]
    assert scan.skipped == [(f"{tsv}:4", "empty text")]
    custom = tmp_path / "c.csv"
    custom.write_text("blurb,kind\nhello,a\nbye,b\n")
    with pytest.raises(UserError, match="no text column"):
        data.scan(custom)
    assert len(data.scan(custom, text_column="blurb", label_column="kind").train) == 2
    with pytest.raises(UserError, match="no column 'nope'"):
        data.scan(custom, text_column="nope")


def test_image_model_refuses_a_table(text_csv):
    with pytest.raises(UserError, match="subfolder of images"):
        data.scan(text_csv, "images")


def test_known_classes_reject_unknown_ones(image_folder):
    with pytest.raises(UserError, match="classes the model does not know: red"):
        data.scan(image_folder, classes=["blue", "green"])
    scan = data.scan(image_folder, classes=["blue", "green", "red", "yellow"])
    assert scan.counts()["yellow"] == 0


def test_image_pipeline_matches_serving_preprocessing(image_folder):
    import tensorflow as tf

    from desktop_ft.core.models.image import ARCHITECTURES, preprocess_uint8

    caffe = ARCHITECTURES["vgg16"].preprocessing

    scan = data.scan(image_folder)
    feed = datasets.ImageFeed(preprocess=lambda im: preprocess_uint8(im[None], 32, caffe)[0],
                              num_classes=3, binary=False, example_bytes=32 * 32 * 12)
    ds = datasets.image_dataset(scan.train, feed, batch_size=4, shuffle=False)
    x, y, w = next(iter(ds))
    assert np.all(np.asarray(w) == 1)          # every file readable: full weight
    assert x.shape == (4, 32, 32, 3) and y.shape == (4, 3)
    first = datasets.load_image_rgb(scan.train.items[0])
    expected = preprocess_uint8(tf.constant(first[None]), 32, caffe)[0]
    np.testing.assert_array_equal(x[0].numpy(), expected.numpy())


def test_only_decode_errors_count_as_unreadable(tmp_path):
    """A file that no longer decodes is skipped (weight 0, reported once); a bug in
    preprocessing is not a bad file and surfaces with its cause."""
    from PIL import Image

    from desktop_ft.core.data.batches import ImageBatches

    good = tmp_path / "good.png"
    noise = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(good)
    cut = tmp_path / "cut.png"
    cut.write_bytes(good.read_bytes()[:len(good.read_bytes()) // 2])
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image any more")
    reported = []
    y, w = np.zeros((3, 1), np.float32), np.ones(3, np.float32)
    batches = ImageBatches([good, cut, junk], y, w, 3, cache=False,
                           preprocess=lambda a: a.astype(np.float32),
                           on_unreadable=lambda p, r: reported.append(p))
    _, _, weights = batches[0]
    assert weights.tolist() == [1.0, 0.0, 0.0] and reported == [cut, junk]

    def buggy(image):
        raise TypeError("a bug in preprocessing")
    broken = ImageBatches([good], y[:1], w[:1], 1, cache=False, preprocess=buggy,
                          on_unreadable=lambda p, r: reported.append(p))
    with pytest.raises(TypeError, match="a bug in preprocessing"):
        broken[0]
