"""Cancel in the engine (issue 34 point 3): an export cancelled between writers, or while
its subprocess runs, leaves the previous OUT/ as it was and no staging folder; a scan stops
at the next file; preparing LoRA/int8 stops before changing the model, and a cancel that
arrives during the Keras call that cannot be interrupted puts the model back as it was."""

import threading
import time

import numpy as np
import pytest
from tests.conftest import hanging_popen

from desktop_ft.core.errors import UserError

pytestmark = pytest.mark.usefixtures("narrow_vgg16")


@pytest.fixture(scope="module")
def vgg():
    from desktop_ft.core.models import ModelSpec, load_model

    return load_model(ModelSpec("vgg16", weights="none", image_size=32, num_classes=2))


@pytest.fixture
def previous_export(vgg, tmp_path):
    """OUT/ holding a finished export, and its export.json as written."""
    from desktop_ft.core.export import export_model

    out = tmp_path / "OUT"
    export_model(vgg, out, ["a", "b"], formats=["keras"])
    return out, (out / "export.json").read_bytes()


def left_beside(out) -> list[str]:
    """What is next to OUT/ besides it: temporary and staging folders left behind."""
    return sorted(p.name for p in out.parent.iterdir() if p.name != out.name)


def test_export_cancelled_between_writers_keeps_the_previous_one(
        vgg, previous_export, monkeypatch):
    from desktop_ft.core.export import export_model, writers

    out, record = previous_export
    stop = threading.Event()
    real = writers.KerasWriter.write

    def click_cancel_while_writing(self, ctx):
        real(self, ctx)
        stop.set()

    monkeypatch.setattr(writers.KerasWriter, "write", click_cancel_while_writing)
    with pytest.raises(UserError, match="Export cancelled; the previous export in"):
        export_model(vgg, out, ["a", "b"], formats=["keras"], stop=stop)
    assert (out / "export.json").read_bytes() == record
    assert left_beside(out) == []


def test_cancel_ends_a_running_export_subprocess_at_once(vgg, previous_export,
                                                         monkeypatch):
    """The subprocess (here: one that would sleep 2 minutes) is killed within a moment of
    the cancel; its staging folder is removed and OUT/ is the previous export."""
    from desktop_ft.core.export.plan import Route
    from desktop_ft.core.export.writer import export_through
    from desktop_ft.core.export.writers import ExportJob, ExportOptions
    from desktop_ft.core.observer import Observer

    out, record = previous_export
    started = hanging_popen(monkeypatch)
    stop = threading.Event()
    job = ExportJob(vgg, out, ["a", "b"], ExportOptions(samples=[], info={}), Observer(),
                    stop)
    cancelled_at = []

    def click_cancel():
        _wait_for(lambda: started)
        cancelled_at.append(time.monotonic())
        stop.set()

    threading.Thread(target=click_cancel, daemon=True).start()
    with pytest.raises(UserError, match="Export cancelled; the previous export in"):
        export_through(job, Route(("saved_model",), {}, via="tensorflow"))
    assert time.monotonic() - cancelled_at[0] < 5
    assert started[0].poll() is not None          # killed, not left running
    assert (out / "export.json").read_bytes() == record
    assert left_beside(out) == []


def _wait_for(condition, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)      # well inside the subprocess's sleep


def test_a_cancelled_scan_stops_at_the_next_file(tmp_path, monkeypatch):
    """300 files in the first class: a cancel after the 10th read ends the scan long
    before the class is read (the check used to be per class folder)."""
    from desktop_ft.core import data
    from desktop_ft.core.data import folders
    from desktop_ft.core.data.scan_result import ScanCancelled

    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        for i in range(300):
            (tmp_path / name / f"{i}.txt").write_text(f"text {i}")
    stop = threading.Event()
    reads = []
    real = folders.read_text

    def read_then_cancel(path):
        reads.append(path)
        if len(reads) == 10:
            stop.set()
        return real(path)

    monkeypatch.setattr(folders, "read_text", read_then_cancel)
    with pytest.raises(ScanCancelled):
        data.scan(tmp_path, stop=stop)
    assert len(reads) < 100


def snapshot(bundle):
    return ([w.copy() for w in bundle.model.get_weights()], bundle.tree.states(),
            bundle.tree.strategy, dict(bundle.peft()), list(bundle.classes or []))


def assert_unchanged(bundle, before):
    weights, states, strategy, peft, classes = snapshot(bundle)
    assert len(weights) == len(before[0])
    assert all(np.array_equal(a, b) for a, b in zip(weights, before[0]))
    assert (states, strategy, peft, classes) == before[1:]


@pytest.fixture
def bert(tiny_bert_preset):
    from desktop_ft.core.models import ModelSpec, load_model
    from desktop_ft.core.training import prepare_strategy

    bundle = load_model(ModelSpec("bert", preset=str(tiny_bert_preset), seq_len=16,
                                  num_classes=2))
    bundle.classes = ["neg", "pos"]
    # Trained-looking weights and a hand-made tree: what a rebuild alone would not give.
    bundle.model.set_weights([w + 0.01 for w in bundle.model.get_weights()])
    return prepare_strategy(bundle, "partial", unfreeze_last=1)


def test_lora_cancelled_during_the_keras_call_puts_the_model_back(bert, monkeypatch):
    from desktop_ft.core.training.strategy import StrategyCancelled, prepare_strategy

    before = snapshot(bert)
    model_before = bert.model
    stop = threading.Event()
    real = type(bert.modality).add_lora

    def cancel_clicked_meanwhile(modality, bundle, rank):
        real(modality, bundle, rank)        # the call that cannot be interrupted
        stop.set()

    monkeypatch.setattr(type(bert.modality), "add_lora", cancel_clicked_meanwhile)
    with pytest.raises(StrategyCancelled, match="unchanged"):
        prepare_strategy(bert, "lora", lora_rank=2, stop=stop)
    assert_unchanged(bert, before)
    assert not bert.tree.has_lora and bert.model is not model_before   # rebuilt


@pytest.mark.parametrize("strategy", ["lora", "qlora"])
def test_lora_int8_cancelled_before_it_starts_changes_nothing(bert, strategy):
    from desktop_ft.core.training.strategy import StrategyCancelled, prepare_strategy

    before = snapshot(bert)
    model_before = bert.model
    stop = threading.Event()
    stop.set()
    with pytest.raises(StrategyCancelled):
        prepare_strategy(bert, strategy, lora_rank=2, stop=stop)
    assert_unchanged(bert, before)
    assert bert.model is model_before
