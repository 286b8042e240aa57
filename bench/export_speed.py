"""Writing the raw-input SavedModel: the engine's `save_function` against Keras's own
`ExportArchive` (`track` the model and the tokenizer, `add_endpoint`, `write_out`) on the
same endpoint, in one process, each run twice alternately (best of two), each time with a
fresh `tf.function` (a function keeps its traces). Keras's archive traces the endpoint
before the save and again inside it, and traces each tracked model's unused default
signature; the engine traces the endpoint once. Prints seconds, `saved_model.pb` sizes
and the ratio engine/Keras (goal ≤ 1.00).

    python bench/export_speed.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad", "movie", "the", "a"]


def text_endpoint():
    """A 2-layer BERT classifier behind keras-hub's tokenizer: ``string [N]`` → probs."""
    import keras_hub
    import tensorflow as tf

    tokenizer = keras_hub.models.BertTokenizer(vocabulary=WORDS, lowercase=True)
    pre = keras_hub.models.BertTextClassifierPreprocessor(tokenizer, sequence_length=16)
    pre.build(None)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=len(WORDS), num_layers=2, num_heads=2, hidden_dim=16,
        intermediate_dim=32, max_sequence_length=16)
    model = keras_hub.models.BertTextClassifier(backbone, num_classes=2, preprocessor=None)

    def make():
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="texts")])
        def serve(texts):
            x = pre(texts)
            return {"probs": tf.nn.softmax(model(x, training=False))}
        return serve
    return make, [model, pre]


def image_endpoint():
    """VGG16 at 32 px behind a resize: ``uint8 [N, H, W, 3]`` → probs."""
    import keras
    import tensorflow as tf

    base = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    x = keras.layers.GlobalAveragePooling2D()(base.output)
    model = keras.Model(base.input, keras.layers.Dense(3, activation="softmax")(x))

    def make():
        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8,
                                                    name="images")])
        def serve(images):
            x = tf.image.resize(tf.cast(images, tf.float32), (32, 32))
            return {"probs": model(x, training=False)}
        return serve
    return make, [model]


def keras_archive(fn, tracked, path: Path) -> None:
    import keras

    archive = keras.export.ExportArchive()
    for obj in tracked:
        archive.track(obj)
    archive.add_endpoint("serve", fn)
    archive.write_out(str(path), verbose=False)


def engine(fn, tracked, path: Path) -> None:
    from desktop_ft.core.export.saved_model import save_function

    save_function(fn, path, ("serving_default", "serve"), resources_of=tracked[1:])


def main() -> None:
    for name, build in (("text (tiny BERT + tokenizer)", text_endpoint),
                        ("images (VGG16 32 px)", image_endpoint)):
        make, tracked = build()
        best = {"keras": float("inf"), "engine": float("inf")}
        sizes = {}
        with tempfile.TemporaryDirectory() as tmp:
            for round_ in range(2):
                for label, write in (("keras", keras_archive), ("engine", engine)):
                    path = Path(tmp) / f"{label}{round_}"
                    t0 = time.perf_counter()
                    write(make(), tracked, path)
                    best[label] = min(best[label], time.perf_counter() - t0)
                    sizes[label] = (path / "saved_model.pb").stat().st_size
        print(f"{name}: Keras ExportArchive {best['keras']:.2f} s "
              f"({sizes['keras'] / 2**20:.2f} MB saved_model.pb), engine "
              f"{best['engine']:.2f} s ({sizes['engine'] / 2**20:.2f} MB); "
              f"ratio engine/Keras {best['engine'] / best['keras']:.2f}", flush=True)


if __name__ == "__main__":
    main()
