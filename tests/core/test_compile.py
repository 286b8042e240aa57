"""Compiling for a run: on TensorFlow the optimizer's slots exist before the first step,
so the training step is traced once. Left to the step, TensorFlow creates them inside the
traced function, then traces the whole step a second time without them (measured: a tiny
BERT's first epoch 12.7 s → 5.1 s)."""

from __future__ import annotations

import collections

import keras
import pytest

from desktop_ft.core.models import ModelSpec
from desktop_ft.core.training import TrainJob, fine_tune, prepare


@pytest.fixture
def traces(monkeypatch):
    """How many graphs TensorFlow builds for each traced function, by name."""
    from tensorflow.python.eager.polymorphic_function import tracing_compilation as tc

    counts: collections.Counter = collections.Counter()
    create = tc._create_concrete_function

    def counting(function_type, type_context, func_graph, tracing_options):
        counts[tracing_options.name] += 1
        return create(function_type, type_context, func_graph, tracing_options)

    monkeypatch.setattr(tc, "_create_concrete_function", counting)
    return counts


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow's tracing")
def test_the_training_step_is_traced_once(tiny_bert_preset, text_csv, traces):
    job = TrainJob(model=ModelSpec("bert", preset=str(tiny_bert_preset), seq_len=16),
                   data=str(text_csv), strategy="bitfit", epochs=2, batch_size=8)
    bundle, scan = prepare(job)
    result = fine_tune(job, bundle=bundle, scan=scan)
    assert result.epochs_run == 2
    # One training step and one validation step (the evaluation after training predicts
    # through another function); two epochs reuse them.
    assert traces["one_step_on_data"] == 2, dict(traces)
    assert bundle.model.optimizer.built
