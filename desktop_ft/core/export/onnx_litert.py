"""The ONNX and LiteRT (float and int8) files of an export, each taking raw input with
the preprocessing inside and returning class probabilities named ``probs``, and their
check in a fresh process (their writers are in :mod:`desktop_ft.core.export.writers`).

* Images: ``uint8 [N, S, S, 3]`` at the model's image size (ONNX: any N; LiteRT: N = 1,
  resizable with ``resize_tensor_input``) → ``probs`` float32 ``[N, num_classes]``.
* Text: ``token_ids`` and ``padding_mask`` int32 ``[N, L]`` at the model's sequence
  length → ``probs``; ``tokenizer.json`` turns strings into those ids with the same
  vocabulary, lowercasing and special tokens as the app.

Parity is measured in a fresh process with the runtime a user would use (onnxruntime,
the LiteRT interpreter): :mod:`desktop_ft.core.export.format_check`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from desktop_ft.core.errors import UserError


def writes_onnx_natively() -> bool:
    """Whether this backend writes ONNX without TensorFlow: PyTorch's own exporter does
    (torch.export + onnxscript); JAX's (jax2onnx) mis-shapes batches above one."""
    from desktop_ft.core import backend

    return backend.name() == "torch" and backend.installed("onnxscript")


def write_onnx(wrapper, path: Path) -> str:
    """The ONNX file of ``wrapper`` (any batch size), with the output named ``probs``:
    tf2onnx on TensorFlow (:mod:`desktop_ft.core.export.tf_onnx`), PyTorch's exporter on
    torch. Returns which exporter wrote it (``export.json`` records it)."""
    import onnx

    from desktop_ft.core import backend
    from desktop_ft.core.export.tf_onnx import write_onnx_tf

    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "model.onnx"
        if backend.name() == "torch":
            _write_onnx_torch(wrapper, raw)
            exporter = f"torch.onnx (torch {sys.modules['torch'].__version__})"
        else:
            write_onnx_tf(wrapper, raw)
            exporter = (f"tf2onnx {sys.modules['tf2onnx'].__version__} "
                        f"(TensorFlow {sys.modules['tensorflow'].__version__})")
        model = onnx.load(str(raw))
    old = model.graph.output[0].name
    for node in model.graph.node:
        node.output[:] = ["probs" if o == old else o for o in node.output]
    model.graph.output[0].name = "probs"
    onnx.save(model, str(path))
    return exporter


def _write_onnx_torch(wrapper, path: Path) -> None:
    """torch.export with a dynamic batch dimension. (Keras 3.15's torch path falls back
    to the TorchScript exporter whenever a dimension is dynamic, which fails on layer
    norms: "Failed to export a node … because it is not constant".)"""
    import numpy as np
    import torch

    names = [t.name.split(":")[0] for t in wrapper.inputs]

    class Flat(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, *inputs):
            return self.model(list(inputs))

    samples = tuple(torch.tensor(np.zeros((2, *t.shape[1:]), t.dtype)) for t in
                    wrapper.inputs)
    batch = torch.export.Dim("batch")
    program = torch.onnx.export(Flat(wrapper).eval(), samples, input_names=names,
                                output_names=["probs"], dynamo=True, verbose=False,
                                # (one entry: the *inputs tuple, a batch axis per input)
                                dynamic_shapes=(tuple({0: batch} for _ in samples),))
    program.optimize()
    program.save(str(path))


def write_litert(wrapper, path: Path, representative: list | None = None) -> None:
    """A LiteRT (TFLite) flatbuffer with one signature (``serving_default``: named
    inputs → ``probs``); with ``representative`` inputs (dicts by input name), post-
    training int8 quantization of weights and activations (the input and output types
    stay uint8/int32 and float32)."""
    import tensorflow as tf

    from desktop_ft.core.export.saved_model import save_function

    names = [t.name.split(":")[0] for t in wrapper.inputs]
    specs = [tf.TensorSpec([1, *t.shape[1:]], t.dtype, name=n)
             for t, n in zip(wrapper.inputs, names)]

    @tf.function(input_signature=specs)
    def serve(*xs):
        return {"probs": wrapper(list(xs) if len(xs) > 1 else xs[0], training=False)}

    with tempfile.TemporaryDirectory() as tmp:
        save_function(serve, Path(tmp), ("serving_default",))
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
        if representative is not None:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]

            def samples():
                for feed in representative:
                    yield {name: feed[name] for name in names}
            converter.representative_dataset = samples
        path.write_bytes(converter.convert())


def check_in_fresh_process(fmt: str, path: Path, inputs: dict) -> "object":
    """Probabilities from ``path`` computed by onnxruntime or the LiteRT interpreter in a
    new Python process (no TensorFlow, no Keras imported there)."""
    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        npz = Path(tmp) / "inputs.npz"
        np.savez(npz, **inputs)
        env = {k: v for k, v in os.environ.items() if not k.startswith("KERAS")}
        proc = subprocess.run([sys.executable, "-m", "desktop_ft.core.export.format_check", fmt,
                               str(path), str(npz)], capture_output=True, text=True,
                              timeout=600, env=env)
    if proc.returncode != 0:
        raise UserError(f"The exported {fmt} model could not be run by its runtime: "
                        f"{proc.stderr.strip().splitlines()[-1] if proc.stderr else ''}",
                        details=proc.stderr[-3000:])
    return np.array(json.loads(proc.stdout.strip().splitlines()[-1]), np.float32)
