"""Run an exported ONNX or LiteRT model the way a user would, in a fresh process:

    python -m desktop_ft.core.export.format_check onnx|litert MODEL INPUTS.npz

prints the probabilities as one JSON line. Imports only numpy and the runtime
(onnxruntime, ai_edge_litert) — neither TensorFlow nor Keras.
"""

from __future__ import annotations

import json
import sys


def run_onnx(path: str, inputs: dict):
    import onnxruntime as ort

    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    feed = {i.name: inputs[i.name.split(":")[0]] for i in session.get_inputs()}
    return session.run(["probs"], feed)[0]


def run_litert(path: str, inputs: dict):
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=path).get_signature_runner()
    n = len(next(iter(inputs.values())))
    rows = []
    for i in range(n):    # the flatbuffer takes one example at a time
        rows.append(runner(**{name: x[i:i + 1] for name, x in inputs.items()})["probs"])
    return np.concatenate(rows)


def main(argv: list[str]) -> int:
    import numpy as np

    fmt, model_path, npz = argv
    with np.load(npz) as data:
        inputs = {name: data[name] for name in data.files}
    probs = (run_onnx if fmt == "onnx" else run_litert)(model_path, inputs)
    print(json.dumps(np.asarray(probs, dtype=float).tolist()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
