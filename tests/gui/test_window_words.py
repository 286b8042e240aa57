"""Messages that reach the window name its controls, never a command-line flag (issue 35,
left from issue 31): the run folder that cannot be created, a backend asked for after
Keras started, a sequence length or LoRA rank out of range, adapters of another rank, and
the Network picker's tooltip. The CLI keeps its flags."""

from types import SimpleNamespace

import pytest
from PySide6.QtCore import Qt

from desktop_ft.core.errors import UserError, window_text
from tests.gui.conftest import LONG, click, drop_path, load_tiny_vgg
from tests.gui.test_window_wording import FLAG


def refusal(call) -> UserError:
    with pytest.raises(UserError) as caught:
        call()
    return caught.value


def assert_worded(e: UserError, flag: str) -> None:
    assert flag in str(e), str(e)
    assert not FLAG.search(e.window_message), e.window_message


def test_a_run_folder_that_cannot_be_created_is_said_without_a_flag(qtbot, window,
                                                                      image_folder,
                                                                      tmp_path, monkeypatch):
    w, c = window, window.controller
    load_tiny_vgg(qtbot, w)
    drop_path(w, image_folder)
    qtbot.waitUntil(lambda: c.scan is not None and c.tasks.running() == 0, timeout=LONG)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("DESKTOP_FT_RUNS", str(blocker / "runs"))
    w.train_panel.set_options({**w.train_panel.options(), "epochs": 1, "batch_size": 8})
    click(qtbot, w.train_panel.train_button)
    qtbot.waitUntil(lambda: w.banner.isVisible() and not c.training, timeout=LONG)
    shown = w.banner.text()
    assert "Cannot create the run folder" in shown and "then train again" in shown, shown
    assert not FLAG.search(shown), shown


def test_the_run_folder_refusal_keeps_its_flag_for_the_cli(tmp_path):
    from desktop_ft.core.training.runs import Run

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    e = refusal(lambda: Run.create(blocker / "runs", job={}, architecture="vgg16",
                                   classes=["a", "b"], split={}, tree={}, peft=None))
    assert_worded(e, "--run-dir")


def test_a_backend_asked_for_after_keras_started_names_the_settings(monkeypatch):
    from desktop_ft.core import backend

    monkeypatch.setattr(backend, "installed", lambda name: True)
    monkeypatch.setattr(backend, "active", lambda: "tensorflow")
    e = refusal(lambda: backend.select("jax"))
    assert_worded(e, "--backend jax")
    assert "Compute backend in File → Settings…" in e.window_message


def test_a_short_sequence_length_names_the_sequence_length_row():
    from desktop_ft.core.models import ModelSpec, modality_for

    spec = ModelSpec(architecture="bert", preset="bert_tiny_en_uncased", seq_len=4)
    e = refusal(lambda: modality_for("bert").check_spec(spec))
    assert_worded(e, "--seq-len")
    assert "Sequence length" in e.window_message


def test_lora_rank_refusals_name_the_rank_box(tmp_path):
    import h5py

    from desktop_ft.core.training import peft, strategy

    bundle = SimpleNamespace(peft=lambda: {"lora_rank": 2, "quantized": False},
                             modality=SimpleNamespace(lora_unavailable=None))
    e = refusal(lambda: strategy.prepare_strategy(bundle, "lora", lora_rank=0))
    assert_worded(e, "--lora-rank")
    path = tmp_path / "adapters.lora.h5"
    with h5py.File(path, "w") as f:
        f.attrs["lora_rank"] = 4
    e = refusal(lambda: peft.load_adapters(bundle, path))
    assert_worded(e, "--lora-rank 4")
    assert "rank 4" in e.window_message


def test_the_network_pickers_tooltip_names_the_sequence_length_row(qtbot):
    from desktop_ft.core.models import modality_for
    from desktop_ft.gui.widgets.architecture_picker import ArchitecturePicker

    picker = ArchitecturePicker()
    qtbot.addWidget(picker)
    tip = picker.itemData(picker.findData("bert"), Qt.ItemDataRole.ToolTipRole)
    assert "Sequence length" in tip and not FLAG.search(tip), tip
    row = modality_for("bert").table_row()
    assert "--seq-len" in row["input"] and not FLAG.search(window_text(row["input"]))
