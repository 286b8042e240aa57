"""Memory across runs in one session: does compiling and fitting a Keras model again keep
memory?

Upstream, yes (Keras 3.15 / TensorFlow 2.21): each ``compile`` + ``fit`` of a VGG16
keeps its traced training graph for the rest of the process. Keras's optimizer step calls
``tf.distribute``'s ``all_reduce`` — a ``tf.custom_gradient`` — and TensorFlow registers
its gradient function, which closes over the graph, in a process-wide registry it never
cleans. The engine drops those entries when ``fit`` returns
(``desktop_ft.core.runtime.traced_gradients_released``).

Runs the same rounds (a new VGG16 at 32 px, compile with a new Adam, fit, predict) twice,
each in its own process: plain Keras, and plain Keras inside that context manager. Prints
resident memory and the number of functions in TensorFlow's eager context per round, and
the growth per round after the first two rounds of each.

    python bench/keras_recompile_leak.py [--rounds 8]

Rerun after upgrading Keras/TensorFlow: if the plain rounds stop growing, the fix is
no longer needed.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def rounds(n: int, release: bool) -> float:
    import keras
    import numpy as np
    import tensorflow as tf
    from tensorflow.python.eager import context

    from desktop_ft.core import runtime

    rng = np.random.default_rng(0)
    data = tf.data.Dataset.from_tensor_slices(
        (rng.random((24, 32, 32, 3), np.float32),
         np.eye(3, dtype=np.float32)[rng.integers(0, 3, 24)])).batch(8)
    sizes = []
    for i in range(n):
        base = keras.applications.VGG16(include_top=False, weights=None,
                                        input_shape=(32, 32, 3))
        x = keras.layers.GlobalAveragePooling2D()(base.output)
        model = keras.Model(base.input, keras.layers.Dense(3, activation="softmax")(x))
        model.compile(keras.optimizers.Adam(1e-4), "categorical_crossentropy")
        with runtime.traced_gradients_released() if release else contextlib.nullcontext():
            model.fit(data, epochs=1, verbose=0)
        model.predict(data, verbose=0)
        del model, base
        gc.collect()
        sizes.append(rss_mb())
        print(f"  round {i + 1}: {sizes[-1]:7.0f} MB, "
              f"{len(context.context().list_function_names())} functions", flush=True)
    return (sizes[-1] - sizes[1]) / max(1, len(sizes) - 2)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--child", choices=["plain", "released"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(f"{rounds(args.rounds, args.child == 'released'):.1f}")
        return 0
    growth = {}
    for mode in ("plain", "released"):
        print(f"{mode}:", flush=True)
        proc = subprocess.run([sys.executable, __file__, "--rounds", str(args.rounds),
                               "--child", mode], capture_output=True, text=True)
        lines = proc.stdout.rstrip().splitlines()
        print("\n".join(lines[:-1]))
        if proc.returncode:
            print(proc.stderr[-2000:])
            return 1
        growth[mode] = float(lines[-1])
    print(f"growth per round: plain Keras {growth['plain']:+.0f} MB, with the engine's "
          f"release {growth['released']:+.0f} MB (VGG16 weights ≈ 59 MB, Adam slots ≈ 118 MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
