"""Peak resident memory of one training job: the engine (``desktop-ft train``, export
included) against a plain-Keras script doing the same fit, each in its own process,
launched by this one command. Prints both peaks (from the kernel's accounting of each
child, ``wait4``) and the ratio engine/plain (goal ≤ 1.10).

    python bench/peak_memory.py [--size 224] [--per-class 67] [--epochs 3] [--batch 16]

The job: VGG16 (random weights, as pretrained ones cannot be downloaded here — same
shapes, same memory), GAP head, the last block trainable, 3 classes × 67 images.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

PLAIN = textwrap.dedent("""
    import sys, keras, tensorflow as tf
    folder, size, epochs, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    keras.utils.set_random_seed(0)
    train, val = keras.utils.image_dataset_from_directory(
        folder, image_size=(size, size), batch_size=batch, label_mode="categorical",
        validation_split=0.2, subset="both", seed=0, verbose=False)
    prep = keras.applications.vgg16.preprocess_input
    train = train.map(lambda x, y: (prep(x), y)).cache().prefetch(tf.data.AUTOTUNE)
    val = val.map(lambda x, y: (prep(x), y)).cache().prefetch(tf.data.AUTOTUNE)
    base = keras.applications.VGG16(include_top=False, weights=None,
                                    input_shape=(size, size, 3))
    for layer in base.layers:
        layer.trainable = layer.name.startswith("block5")
    x = keras.layers.GlobalAveragePooling2D()(base.output)
    out = keras.layers.Dense(3, activation="softmax")(keras.layers.Dropout(0.2)(x))
    model = keras.Model(base.input, out)
    model.compile(keras.optimizers.Adam(1e-4), "categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(train, validation_data=val, epochs=epochs, verbose=0)
    model.export(sys.argv[5], verbose=False)
""")


def peak_mb(cmd: list[str]) -> float:
    """Run ``cmd``; its peak resident set size in MB."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{cmd[:3]} failed:\n{proc.stderr.read().decode()[-2000:]}")
    return usage.ru_maxrss / 1024      # KB on Linux


def main() -> int:
    from _images import image_bench_parser, make_images

    ap = image_bench_parser(__doc__, size=224, per_class=67, epochs=3)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--formats", default="saved_model,keras",
                    help="the engine's export formats (the plain script writes a SavedModel)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = make_images(Path(tmp) / "data", per_class=args.per_class, size=args.size)
        plain = peak_mb([sys.executable, "-c", PLAIN, str(folder), str(args.size),
                         str(args.epochs), str(args.batch), str(Path(tmp) / "plain_out")])
        engine = peak_mb([sys.executable, "-m", "desktop_ft", "train", "--model", "vgg16",
                          "--weights", "none", "--image-size", str(args.size),
                          "--strategy", "partial", "--unfreeze-last", "1",
                          "--epochs", str(args.epochs), "--batch-size", str(args.batch),
                          "--data", str(folder), "--run-dir", str(Path(tmp) / "runs"),
                          "--export", str(Path(tmp) / "engine_out"),
                          "--formats", args.formats])
    print(f"VGG16 {args.size} px, {3 * args.per_class} images, last block trainable, "
          f"{args.epochs} epochs, batch {args.batch}")
    print(f"engine export formats: {args.formats}")
    print(f"plain Keras peak RSS {plain:8.0f} MB")
    print(f"engine      peak RSS {engine:8.0f} MB")
    print(f"ratio engine/plain   {engine / plain:8.2f}  (goal ≤ 1.10)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
