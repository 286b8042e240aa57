"""One model's whole flow on one Keras backend, run in its own process by
``test_backends.py`` (Keras fixes its backend per process)::

    KERAS_BACKEND=torch python tests/core/backend_flow.py images DATA OUT [--no-tensorflow]
                                    [--precision=mixed_bfloat16]
    KERAS_BACKEND=jax   python tests/core/backend_flow.py text DATA OUT PRESET

Trains (the run stopped after its first batch, then a full run), evaluates, explains
and exports; prints one JSON line of what the test checks. ``--no-tensorflow`` makes
TensorFlow impossible to import, as on a machine that lacks it.
"""

from __future__ import annotations

import json
import sys
import threading

if "--no-tensorflow" in sys.argv:
    for name in ("tensorflow", "tensorflow_text", "tf_keras", "tf2onnx"):
        sys.modules[name] = None     # import raises ImportError; find_spec says missing


def main(kind: str, data: str, out: str, preset: str | None, precision: str) -> dict:
    import numpy as np

    from desktop_ft.core import backend, export, runtime
    from desktop_ft.core.explain import explain
    from desktop_ft.core.models import ModelSpec
    from desktop_ft.core.observer import Observer
    from desktop_ft.core.training import TrainJob, fine_tune

    backend.select(None)
    if kind == "images":
        spec = ModelSpec("vgg16", weights="none", image_size=32, precision=precision)
        job = TrainJob(model=spec, data=data, strategy="partial", epochs=2, batch_size=8,
                       lr=1e-3, seed=3)
    else:
        spec = ModelSpec("bert", preset=preset, seq_len=16, precision=precision)
        job = TrainJob(model=spec, data=data, strategy="lora", lora_rank=2, epochs=2,
                       batch_size=8, lr=1e-2, seed=3)

    class StopAfterFirstBatch(Observer):
        def __init__(self, stop):
            self.stop, self.batches = stop, 0

        def on_batch(self, epoch, batch, logs):
            self.batches += 1
            self.stop.set()

    stop = threading.Event()
    stopper = StopAfterFirstBatch(stop)
    stopped = fine_tune(job, stopper, stop, record_run=False)
    result = fine_tune(job, record_run=False)
    samples = result.parity_samples()
    record = export.export_model(result.bundle, out, result.classes, samples=samples,
                                 info=result.export_info())
    explained = explain(result.bundle, samples[:1])
    reloaded_diff = None
    if kind == "images":      # model.keras reloads on this backend and agrees
        import keras

        model = keras.saving.load_model(f"{out}/model.keras", compile=False)
        probs = result.bundle.family_impl.predict_proba(
            type(result.bundle)(**{**result.bundle.__dict__, "model": model}), samples)
        reloaded_diff = float(np.abs(probs - result.bundle.predict_proba(samples)).max())
    return {
        "backend": backend.name(), "device": runtime.device_description(),
        "precision": result.bundle.parts["precision"],
        "tensorflow_imported": "tensorflow" in sys.modules and sys.modules["tensorflow"]
        is not None,
        "stopped": {"reason": stopped.stop_reason, "batches": stopper.batches,
                    "epochs_run": stopped.epochs_run},
        "epochs_run": result.epochs_run, "history": result.history,
        "cache_cut": [c.get("cut") for c in result.feature_cache],
        "accuracy": result.evaluation.get("accuracy") if result.evaluation else None,
        "export": {k: record.get(k) for k in ("formats_written", "parity_max_abs_diff",
                                              "backend", "device", "formats_not_written")},
        "files": sorted(p.name for p in __import__("pathlib").Path(out).iterdir()),
        "explained": sorted(explained[0]) if explained else [],
        "reloaded_diff": reloaded_diff,
    }


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    precision = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--precision=")),
                     "auto")
    print(json.dumps(main(args[0], args[1], args[2], args[3] if len(args) > 3 else None,
                          precision)))
