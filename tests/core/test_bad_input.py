"""The bad-input corpus: each case is something a user may hand the app. Refusals give
one clear line (CLI: exit status 1, ``desktop-ft: error: …``, no traceback) and change
nothing the user owns; bad files among good ones are skipped and listed, and the rest goes
on. The window's banner shows the same refusals (``test_window_banner_*``).

A case is (id, setup, argv, expect): ``setup(tmp) -> dict`` makes the input under ``tmp``
and returns names to format into ``argv``; ``expect`` is ``("refuse", words)`` — exit 1
and a line containing ``words`` — or ``("skip", n)`` — exit 0 with ``n`` files skipped —
or ``("ok", words)``.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from desktop_ft.cli import main
from tests.conftest import write_image_folder

TINY = ["--model", "vgg16", "--weights", "none", "--image-size", "32"]


# --------------------------------------------------------------------------- makers
def images(tmp, per_class=3, classes=("red", "blue")):
    return write_image_folder(tmp / "imgs", classes=classes, per_class=per_class)


def with_file(name, write):
    """A good two-class folder plus one odd file written by ``write(path)`` in red/."""
    def setup(tmp):
        root = images(tmp)
        write(root / "red" / name)
        return {"data": root}
    return setup


def save(mode, size=(24, 24), fmt=None, **kw):
    def write(path):
        if mode == "I;16":
            img = Image.fromarray((np.random.default_rng(0).random(size) * 65535)
                                  .astype(np.uint16))
        else:
            img = Image.new(mode, size, 128 if mode in ("L", "P", "I") else None)
        img.save(path, fmt, **kw)
    return write


def animated_gif(path):
    frames = [Image.new("P", (20, 20), i * 40) for i in range(3)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50)


def truncated_jpeg(path):
    Image.new("RGB", (64, 64), (200, 10, 10)).save(path, "JPEG")
    path.write_bytes(path.read_bytes()[:200])


def decompression_bomb(path):
    """A tiny PNG whose header claims 60000 × 60000 pixels."""
    Image.new("L", (8, 8)).save(path)
    raw = bytearray(path.read_bytes())
    ihdr = raw.index(b"IHDR")
    raw[ihdr + 4:ihdr + 12] = struct.pack(">II", 60000, 60000)
    raw[ihdr + 17:ihdr + 21] = struct.pack(">I", zlib.crc32(bytes(raw[ihdr:ihdr + 17])))
    path.write_bytes(bytes(raw))


def unreadable(path):
    Image.new("RGB", (20, 20)).save(path)
    path.chmod(0)


def symlink_loop(tmp):
    root = images(tmp)
    (root / "red" / "loop").symlink_to(root / "red", target_is_directory=True)
    return {"data": root}


def tree(spec):
    """A folder from {relative path: bytes or None (a folder)}."""
    def setup(tmp):
        root = tmp / "data"
        root.mkdir()
        for rel, content in spec.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if content is None:
                path.mkdir(exist_ok=True)
            elif isinstance(content, bytes):
                path.write_bytes(content)
            else:
                content(path)
        return {"data": root}
    return setup


def table(text: str | bytes, name="data.csv"):
    def setup(tmp):
        path = tmp / name
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        return {"data": path}
    return setup


def rows(n=12, fmt="{text},{label}\n", header="text,label\n"):
    words = {"pos": "good great fine", "neg": "bad awful sad"}
    return header + "".join(fmt.format(text=f"{words[lab]} {i}", label=lab)
                            for i in range(n) for lab in ("pos", "neg"))


def hf_folder(config: dict | str | None, weights: bytes | None = b"junk",
              weights_name="model.safetensors", vocab=True):
    def setup(tmp):
        root = tmp / "hf"
        root.mkdir()
        if config is not None:
            (root / "config.json").write_text(config if isinstance(config, str)
                                              else json.dumps(config))
        if weights is not None:
            (root / weights_name).write_bytes(weights)
        if vocab:
            (root / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\n")
        return {"preset": root}
    return setup


BERT_CONFIG = {"model_type": "bert", "vocab_size": 6, "hidden_size": 8,
               "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 16,
               "max_position_embeddings": 32}


def weights_file(content: bytes | str, name="w.weights.h5"):
    def setup(tmp):
        path = tmp / name
        if content == "other-model":
            import keras

            model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
            model.save_weights(str(path))
        else:
            path.write_bytes(content)
        return {"weights": path}
    return setup


def project(record: dict | str):
    def setup(tmp):
        path = tmp / "p.dftproj"
        path.write_text(record if isinstance(record, str) else json.dumps(record))
        return {"project": path}
    return setup


GOOD_JOB = {"model": {"architecture": "vgg16", "weights": "none", "image_size": 32},
            "data": "imgs", "epochs": 1}


def nothing(tmp):
    return {}


# --------------------------------------------------------------------------- the corpus
SCAN = ["scan", "{data}"]
REFUSE, SKIP, OK = "refuse", "skip", "ok"
USAGE = "usage"     # refused by argparse: exit status 2, not 1
PARSER_CHECKED = ("--epochs", "--batch-size", "--lora-rank", "--seed")
CASES = [
    # image folders
    ("empty-folder", tree({"x": None}), ["scan", "{data}/x"], (REFUSE, "it is empty")),
    ("loose-files-no-classes", tree({"a.png": save("RGB"), "b.png": save("RGB")}), SCAN,
     (REFUSE, "2 loose file(s)")),
    ("one-class", lambda t: {"data": images(t, classes=("red",))}, SCAN, (REFUSE, "class")),
    ("an-empty-class", tree({"a/1.png": save("RGB"), "a/2.png": save("RGB"),
                             "b/1.png": save("RGB"), "b/2.png": save("RGB"), "c": None}),
     SCAN, (REFUSE, "'c'")),
    ("zero-byte", with_file("zero.png", lambda p: p.write_bytes(b"")), SCAN, (SKIP, 1)),
    ("truncated-jpeg", with_file("cut.jpg", truncated_jpeg), SCAN, (SKIP, 1)),
    ("not-an-image", with_file("notes.jpg", lambda p: p.write_text("hello")), SCAN, (SKIP, 1)),
    ("rgba", with_file("a.png", save("RGBA")), SCAN, (SKIP, 0)),
    ("grayscale", with_file("g.png", save("L")), SCAN, (SKIP, 0)),
    ("16-bit", with_file("g16.png", save("I;16")), SCAN, (SKIP, 0)),
    ("cmyk", with_file("c.jpg", save("CMYK", fmt="JPEG")), SCAN, (SKIP, 0)),
    ("palette", with_file("p.png", save("P")), SCAN, (SKIP, 0)),
    ("animated-gif", with_file("anim.gif", animated_gif), SCAN, (SKIP, 0)),
    ("webp", with_file("w.webp", save("RGB", fmt="WEBP")), SCAN, (SKIP, 0)),
    ("1x1", with_file("dot.png", save("RGB", size=(1, 1))), SCAN, (SKIP, 0)),
    ("extreme-aspect", with_file("strip.png", save("RGB", size=(2000, 2))), SCAN, (SKIP, 0)),
    ("decompression-bomb", with_file("bomb.png", decompression_bomb), SCAN, (SKIP, 1)),
    ("symlink-loop", symlink_loop, SCAN, (SKIP, 0)),
    ("a-folder-named-like-an-image", with_file("dir.jpg", lambda p: p.mkdir()), SCAN,
     (SKIP, 0)),
    ("unreadable-file", with_file("locked.png", unreadable), SCAN, (SKIP, 1)),
    ("unicode-and-spaces", tree({"chats noirs/été 1.png": save("RGB"),
                                 "chats noirs/ü 2.jpg": save("RGB", fmt="JPEG"),
                                 "狗/a b.png": save("RGB"), "狗/c.png": save("RGB")}),
     SCAN, (OK, "chats noirs")),
    ("hidden-files", tree({"a/1.png": save("RGB"), "a/.DS_Store": b"\0\0",
                           "b/1.png": save("RGB"), "._b": None, ".git/x": b"x"}),
     SCAN, (OK, "2 classes")),
    ("missing-path", nothing, ["scan", "{tmp}/nowhere"], (REFUSE, "does not exist")),
    # text tables
    ("csv-missing-label-column", table(rows(header="text,stars\n", fmt="{text},5\n")),
     SCAN, (REFUSE, "label")),
    ("csv-single-column", table("text\nhello\nworld\n"), SCAN, (REFUSE, "column")),
    ("csv-empty-rows", table(rows().replace("\n", "\n\n,\n", 5)), SCAN, (OK, "24")),
    ("csv-bom", table(b"\xef\xbb\xbf" + rows().encode()), SCAN, (OK, "2 classes")),
    ("csv-quoted-newlines", table(rows(fmt='"{text}\nmore",{label}\n')), SCAN,
     (OK, "2 classes")),
    ("csv-very-long-rows", table(rows(fmt="{text} " + "word " * 20000 + ",{label}\n")),
     SCAN, (OK, "2 classes")),
    ("csv-cp1252", table(rows(fmt="{text} café – naïve “quoted”,{label}\n")
                         .encode("cp1252")), SCAN, (OK, "cp1252")),
    ("csv-binary-garbage", table(bytes(range(256)) * 40), SCAN, (REFUSE, "")),
    # model sources
    ("pickle-only-model", hf_folder(BERT_CONFIG, weights_name="pytorch_model.bin"),
     ["layers", "--model", "bert", "--preset", "{preset}"], (REFUSE, "pickle")),
    ("broken-config", hf_folder("{not json"), ["layers", "--model", "bert", "--preset",
                                               "{preset}"], (REFUSE, "config.json")),
    ("broken-safetensors", hf_folder(BERT_CONFIG), ["layers", "--model", "bert", "--preset",
                                                    "{preset}"], (REFUSE, "")),
    ("wrong-model-type", hf_folder({**BERT_CONFIG, "model_type": "gpt2"}),
     ["layers", "--model", "bert", "--preset", "{preset}"], (REFUSE, "gpt2")),
    ("unknown-preset-offline", nothing, ["layers", "--model", "bert", "--preset",
                                         "bert_nonexistent_en"], (REFUSE, "bert_nonexistent_en")),
    # weights files
    ("corrupt-weights", weights_file(b"\x89HDF\r\n garbage"),
     ["layers", *TINY[:2], "--weights", "{weights}", "--image-size", "32"], (REFUSE, "")),
    ("pickle-weights", weights_file(b"\x80\x04\x95 pickle", name="w.pkl"),
     ["layers", *TINY[:2], "--weights", "{weights}", "--image-size", "32"], (REFUSE, "")),
    ("another-models-weights", weights_file("other-model"),
     ["layers", *TINY[:2], "--weights", "{weights}", "--image-size", "32"], (REFUSE, "")),
    # numeric flags
    *[(f"flag{flag}={value}", nothing, ["train", *TINY, "--data", "{tmp}", flag, value,
                                        "--export", "{tmp}/out"],
      (USAGE if flag in PARSER_CHECKED else REFUSE, flag))
      for flag, value in [("--epochs", "0"), ("--batch-size", "-3"), ("--lr", "-1"),
                          ("--lr", "nan"), ("--val-split", "1.5"), ("--image-size", "4"),
                          ("--lora-rank", "0"), ("--early-stopping", "-1"),
                          ("--unfreeze-last", "-2"), ("--cache-budget", "-5"),
                          ("--phase1-epochs", "-1"), ("--seed", "x")]],
    ("flag--seq-len=0", nothing, ["layers", "--model", "bert", "--preset", "p", "--seq-len",
                                  "0"], (REFUSE, "--seq-len")),
    ("flag--opacity=2", nothing, ["explain", "{export}", "x.png", "--opacity", "2"],
     (REFUSE, "--opacity")),
    # export destinations (from the run made by the ``trained`` fixture)
    ("export-to-a-file", lambda t: {"out": _touch(t / "file.txt")},
     ["export", "{run}", "{out}"], (REFUSE, "is a file")),
    ("export-to-a-foreign-folder", lambda t: {"out": _touch(t / "mine" / "thesis.tex").parent},
     ["export", "{run}", "{out}"], (REFUSE, "not a desktop-ft export")),
    ("export-to-a-read-only-folder", lambda t: {"out": _readonly(t / "ro") / "out"},
     ["export", "{run}", "{out}"], (REFUSE, "")),
    # project files
    ("project-malformed", project("{oops"), ["train", "--project", "{project}",
                                           "--export", "{tmp}/o"],
     (REFUSE, "not a desktop-ft project")),
    ("project-wrong-version", project({"desktop_ft_project": 99, "job": GOOD_JOB}),
     ["train", "--project", "{project}", "--export", "{tmp}/o"], (REFUSE, "version 99")),
    ("project-unknown-key", project({"desktop_ft_project": 1,
                                     "job": {**GOOD_JOB, "epocs": 3}}),
     ["train", "--project", "{project}", "--export", "{tmp}/o"],
     (REFUSE, "unknown key job.epocs")),
    ("project-wrong-type", project({"desktop_ft_project": 1,
                                    "job": {**GOOD_JOB, "epochs": "ten"}}),
     ["train", "--project", "{project}", "--export", "{tmp}/o"],
     (REFUSE, "job.epochs must be a whole number")),
    ("project-relative-data-missing", project({"desktop_ft_project": 1, "job": GOOD_JOB}),
     ["train", "--project", "{project}", "--export", "{tmp}/o"], (REFUSE, "imgs")),
    # predict / evaluate misuse (on the ``trained`` fixture's export)
    ("predict-text-on-an-image-model", nothing, ["predict", "{export}", "a sentence"],
     (REFUSE, "")),
    ("predict-a-missing-image", nothing, ["predict", "{export}", "{tmp}/none.png"],
     (REFUSE, "none.png")),
    ("evaluate-other-classes", lambda t: {"data": images(t, classes=("green", "blue"))},
     ["evaluate", "{export}", "--data", "{data}"], (REFUSE, "green")),
    ("evaluate-text-on-an-image-model", table(rows()), ["evaluate", "{export}", "--data",
                                                        "{data}"], (REFUSE, "")),
    ("predict-on-a-non-export", nothing, ["predict", "{tmp}", "x.png"], (REFUSE, "export")),
]


def _touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("mine")
    return path


def _readonly(path):
    path.mkdir()
    path.chmod(0o555)
    return path


# --------------------------------------------------------------------------- running
def snapshot(root):
    """Every file under ``root`` with its bytes' hash (what "unchanged" means)."""
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            p = os.path.join(dirpath, name)
            try:
                with open(p, "rb") as f:
                    out[p] = hashlib.sha1(f.read()).hexdigest()
            except OSError:
                out[p] = "unreadable"
    return out


def run_cli(argv, capsys):
    try:
        code = main(argv)
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny trained image model: its run folder and its export."""
    tmp = tmp_path_factory.mktemp("trained")
    data = write_image_folder(tmp / "data", classes=("red", "blue"), per_class=4)
    # (The head alone trains: the cases need a run and an export, not what trained.)
    assert main(["train", *TINY, "--strategy", "head", "--data", str(data), "--epochs", "1",
                 "--batch-size", "4", "--run-dir", str(tmp / "runs"), "--export",
                 str(tmp / "export")]) == 0
    [run] = (tmp / "runs").iterdir()
    return {"run": run, "export": tmp / "export"}


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input(case, tmp_path, capsys, trained):
    name, setup, argv, (kind, expected) = case
    if name == "unreadable-file" and os.geteuid() == 0:
        pytest.skip("root reads files whatever their permissions")
    if name == "export-to-a-read-only-folder" and os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    values = {"tmp": tmp_path, **trained, **setup(tmp_path)}
    argv = [a.format(**values) for a in argv]
    before = snapshot(tmp_path)
    export_before = snapshot(trained["export"])
    code, out, err = run_cli([*argv, "--json"] if kind == SKIP else argv, capsys)
    try:
        assert "Traceback" not in err + out
        if kind in (REFUSE, USAGE):
            lines = err.strip().splitlines()
            assert code == (2 if kind == USAGE else 1) and len(lines) == 1, (code, err)
            assert lines[0].startswith("desktop-ft: error: ") and expected in lines[0], lines
            assert "run with --debug" not in lines[0], "an unexpected exception"
            assert snapshot(tmp_path) == before, "a refusal changed the user's files"
        elif kind == SKIP:
            assert code == 0, err
            summary = json.loads(out.strip().splitlines()[-1])
            assert len(summary["skipped"]) == expected, summary["skipped"]
            assert all(s["reason"] for s in summary["skipped"])
        else:
            assert code == 0, err
            assert expected in out, out
        assert snapshot(trained["export"]) == export_before
    finally:
        for p in tmp_path.rglob("*"):       # let pytest clean up what a case locked
            if not p.is_symlink():
                p.chmod(0o755)
