"""Soak: a working session of many runs in one window — drop data, load a tiny model,
toggle layers, train (stopping mid-epoch every other cycle), try it, export, switch modality
— must not grow without bound: after warm-up, resident memory has no upward trend within
image cycles or within text cycles (``memory_trend``), the thread count returns to its
baseline, and Qt prints no warning.

The image cycles build ``vgg16`` as VGG16's layers at a few channels (``narrow_vgg16``;
alone, an image cycle 9 -> 6.5 s); the text cycles load a one-layer BERT
(``one_layer_bert_preset``; training 6-7.5 -> 4-5 s a cycle). The leak this soak was
written for (each training run's traced graph kept) still fails it: injected, RSS
climbed 6-11 MB a cycle over 12 cycles, against a bound of 4 (0.8-1.3 without it, over
30; with the full-width VGG16 the leak was ~61 MB a cycle, its weights and Adam slots
kept too). ``test_a_discarded_models_graphs_are_released`` counts the kept functions
themselves."""

import gc
import os
import threading
import time

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt, QtMsgType, qInstallMessageHandler

from tests.gui.conftest import LONG, click, drop_path, load_model, train_and_wait
from tests.gui.memory_trend import memory_verdicts, series_table

pytestmark = pytest.mark.usefixtures("narrow_vgg16")

CYCLES = int(os.environ.get("DESKTOP_FT_SOAK_CYCLES", "30"))
WARMUP = 4


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def native_threads() -> int:
    return len(os.listdir("/proc/self/task"))


@pytest.mark.slow
@pytest.mark.timeout(1500)   # ~4.5 min alone on 2 cores; twice that beside another job
@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads Linux's /proc")
def test_soak_many_runs_in_one_window(qtbot, window, image_folder, text_csv,
                                      one_layer_bert_preset, tmp_path):
    warnings = []

    def handler(kind, context, message):
        # (The offscreen platform plugin's own notice is not the app's.)
        if kind != QtMsgType.QtDebugMsg and "propagateSizeHints" not in message:
            warnings.append(message)

    previous = qInstallMessageHandler(handler)
    w, c = window, window.controller
    probe = tmp_path / "probe.png"
    Image.fromarray(np.full((40, 40, 3), 200, np.uint8)).save(probe)
    samples, threads, kinds = [], [], []
    panel, tryit = w.train_panel, w.try_panel
    try:
        for i in range(CYCLES):
            t0 = time.monotonic()
            marks = [("start", t0)]       # how long each step took, for the printed line
            images = i % 2 == 0
            drop_path(w, image_folder if images else text_csv)
            qtbot.waitUntil(lambda: c.scan is not None and c.tasks.running() == 0,
                            timeout=LONG)
            if images:
                load_model(qtbot, w, architecture="vgg16", weights="none", image_size=32)
                assert c.bundle.model.count_params() < 1e6      # narrow_vgg16
                click(qtbot, w.layers_panel.buttons["head"])
                model = w.layers_panel.tree_model
                block5 = model.index_for_path("block5")
                model.setData(block5, Qt.CheckState.Checked.value,
                              Qt.ItemDataRole.CheckStateRole)
            else:
                load_model(qtbot, w, architecture="bert", preset=str(one_layer_bert_preset),
                           seq_len=16)
                click(qtbot, w.layers_panel.buttons["bitfit"])
            qtbot.waitUntil(lambda: c.tasks.running() == 0, timeout=LONG)
            marks.append(("load", time.monotonic()))
            if i % 4 in (2, 3):     # every other pair of cycles: stopped mid-epoch
                panel.set_options({**panel.options(), "epochs": 50, "batch_size": 2})
                click(qtbot, panel.train_button)
                qtbot.waitUntil(lambda: panel.plots.batch_loss.n >= 2, timeout=LONG)
                click(qtbot, panel.stop_button)
                qtbot.waitUntil(lambda: not c.training and c.tasks.running() == 0,
                                timeout=LONG)
            else:
                train_and_wait(qtbot, w, epochs=1, batch_size=8)
            marks.append(("train", time.monotonic()))
            tryit.bars.values = {}
            if images:
                drop_path(w, probe)
            else:
                tryit.text.setText(f"this is good {i}")
                qtbot.keyClick(tryit.text, Qt.Key.Key_Return)
            qtbot.waitUntil(lambda: bool(tryit.bars.values) and c.tasks.running() == 0,
                            timeout=LONG)
            marks.append(("try", time.monotonic()))
            last = c.last_export
            tryit.exportRequested.emit(str(tmp_path / f"export{i % 2}"))
            qtbot.waitUntil(lambda last=last: c.last_export is not last and
                            c.tasks.running() == 0, timeout=LONG)
            marks.append(("export", time.monotonic()))
            qtbot.wait(50)
            gc.collect()
            marks.append(("gc", time.monotonic()))
            samples.append(rss_mb())
            kinds.append("image" if images else "text")
            threads.append((threading.active_count(), native_threads()))
            print(f"cycle {i + 1}: {samples[-1]:.0f} MB, threads {threads[-1]}, "
                  f"{time.monotonic() - t0:.1f} s (" + ", ".join(
                      f"{name} {t - before:.1f}" for (_, before), (name, t)
                      in zip(marks, marks[1:])) + ")", flush=True)
    finally:
        qInstallMessageHandler(previous)
    series = series_table(samples, kinds, threads)
    assert not warnings, f"{warnings}\n{series}"
    # (Python's Thread objects, and native threads: two more while a model is loaded.)
    assert threads[-1][0] <= threads[WARMUP - 1][0], series
    assert threads[-1][1] <= threads[WARMUP - 1][1] + 2, series
    problems = memory_verdicts(samples, kinds, WARMUP)
    assert not problems, "\n".join(problems) + "\n" + series


# The criterion on its own, against series seen on this kind of machine: the swing of a
# healthy run passes, the leak the soak was written for fails.
SWING = [1510, 1420, 1530, 1391,          # warm-up; cycle 4, a text cycle at a low point
         1480, 1450, 1540, 1375, 1500, 1440, 1460, 1400, 1520, 1375, 1450, 1470, 1560,
         1410, 1490, 1380, 1530, 1460, 1562, 1420, 1500, 1400, 1470, 1390, 1430, 1430]
KINDS = ["image" if i % 2 == 0 else "text" for i in range(30)]


def test_a_swing_between_kinds_of_cycle_is_not_growth():
    # The old rule (highest sample against cycle 4) read this as +171 MB.
    assert max(SWING[4:]) - SWING[3] > 150
    assert memory_verdicts(SWING, KINDS, 4) == []


def test_a_leak_of_one_training_runs_graph_fails():
    leaky = [mb + 160 * i for i, mb in enumerate(SWING)]
    problems = memory_verdicts(leaky, KINDS, 4)
    assert any("image cycles: RSS climbs" in p for p in problems), problems
    assert any("text cycles: last third" in p for p in problems), problems


def test_a_slow_leak_fails_and_one_outlier_does_not():
    slow = [mb + 6 * i for i, mb in enumerate(SWING)]
    assert memory_verdicts(slow, KINDS, 4)
    spike = list(SWING)
    spike[-2] += 400        # one high sample near the end: a trend is not one sample
    assert memory_verdicts(spike, KINDS, 4) == []


def test_the_series_is_printed_one_line_a_cycle():
    table = series_table(SWING[:3], KINDS[:3], [(1, 10)] * 3)
    assert table.splitlines()[2] == "  cycle  3 image     1530 MB  threads (1, 10)"
