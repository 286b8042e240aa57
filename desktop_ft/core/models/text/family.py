"""The BERT family: text in, a keras-hub ``BertTextClassifier`` (tokenizer inside).

Example:
    >>> from desktop_ft.core.models import ModelSpec, load_model
    >>> spec = ModelSpec("bert", preset="path/to/all-MiniLM-L6-v2", seq_len=64, num_classes=3)
    >>> load_model(spec).predict_proba(["great film", "awful"]).shape
    (2, 3)
"""

from __future__ import annotations

from desktop_ft.core import datasets
from desktop_ft.core.errors import UserError
from desktop_ft.core.models.base import Family, ModelBundle, ModelSpec, to_class_probs
from desktop_ft.core.models.bert import build as build_mod
from desktop_ft.core.models.bert import peft as peft_mod
from desktop_ft.core.models.bert import tree as tree_mod

PRESETS = ("bert_tiny_en_uncased", "bert_small_en_uncased", "bert_base_en_uncased",
           "all_minilm_l6_v2_en")


class BertFamily(Family):
    name = "bert"
    title = "BERT — text"
    input_kind = "text"
    spec_fields = ("preset", "seq_len")
    unit_name = "layers"
    lora_unavailable = None
    finetune_lr = 5e-5
    few_params_lr = 1e-3
    optimizer = "adamw"
    presets = PRESETS

    def check_spec(self, spec: ModelSpec) -> None:
        if not spec.preset:
            raise UserError("BERT needs --preset: a keras-hub preset name (e.g. "
                            "bert_tiny_en_uncased) or a local folder.",
                            window_message="BERT needs a preset name or a local folder "
                            "(Preset or folder → Folder…).")
        if spec.seq_len < 8:
            raise UserError(f"--seq-len must be at least 8, got {spec.seq_len}.")
        if spec.augment:
            raise UserError("Data augmentation is offered for images (VGG16) only.")

    def training_bytes_per_example(self, spec: ModelSpec) -> int:
        # Attention scores (heads × L²) and hidden states (L × 4·hidden) per layer, for a
        # BERT-base-sized model (12 layers, 12 heads, hidden 768), ×4 bytes, ×2 gradients.
        length = spec.seq_len
        return int(12 * (12 * length ** 2 + length * 4 * 768) * 4 * 2)

    def build(self, spec, observer, stop=None) -> ModelBundle:
        return build_mod.build(self, spec, observer, stop)

    def rebuild_head(self, bundle: ModelBundle, spec: ModelSpec) -> ModelBundle:
        new = build_mod.classifier(self, bundle.parts["backbone"],
                                   bundle.parts["preprocessor"], spec)
        new.weights_source = bundle.weights_source
        return new

    def build_tree(self, bundle: ModelBundle):
        return tree_mod.build_tree(bundle)

    def make_dataset(self, bundle, split, batch_size, *, shuffle, seed=0, epochs=None,
                     class_weights=None, on_unreadable=None):
        # keras-hub tasks map their preprocessor (the tokenizer) over the dataset in fit.
        # (The texts are in memory since the scan: nothing can become unreadable.)
        return datasets.text_dataset(split, bundle.num_classes, batch_size, shuffle=shuffle,
                                     seed=seed, binary=bundle.binary, epochs=epochs,
                                     class_weights=class_weights)

    def predict_proba(self, bundle: ModelBundle, texts, batch_size: int = 32):
        import keras
        import numpy as np
        import tensorflow as tf     # keras-hub's tokenizers run on TensorFlow on every backend

        model = bundle.model
        outs = []
        for i in range(0, len(texts), batch_size):
            x = model.preprocessor(tf.constant(list(texts[i:i + batch_size])))
            out = keras.ops.convert_to_numpy(model(x, training=False))
            outs.append(np.asarray(out, dtype=np.float32))
        out = np.concatenate(outs) if outs else \
            np.zeros((0, 1 if bundle.binary else bundle.num_classes), np.float32)
        return to_class_probs(out, bundle.binary)

    def explain(self, bundle: ModelBundle, texts) -> list[dict]:
        from desktop_ft.core.models.bert.explain import token_importance

        return token_importance(bundle, texts)

    def add_lora(self, bundle: ModelBundle, rank: int) -> None:
        peft_mod.add_lora(bundle, rank)

    def quantize_int8(self, bundle: ModelBundle) -> None:
        peft_mod.quantize_int8(bundle)

    def merged_model(self, bundle: ModelBundle):
        return peft_mod.merged_model(bundle)

    def serve_function(self, bundle: ModelBundle, outputs):
        import tensorflow as tf

        model = bundle.model
        preprocessor = model.preprocessor

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="texts")])
        def serve(texts):
            return outputs(model(preprocessor(texts), training=False))
        return serve

    def archive_extras(self, bundle: ModelBundle) -> list:
        # The tokenizer's vocabulary lookup tables must be tracked to be saved. Loaded
        # from model.keras (a re-export) the preprocessor is not built until first called.
        preprocessor = bundle.model.preprocessor
        if not preprocessor.built:
            preprocessor.build(None)
        return [preprocessor]

    def synthetic_inputs(self) -> list:
        return ["A short sentence.", "Another, longer example sentence with punctuation, "
                "numbers like 42 and UPPER case words!"]

    def export_fields(self, bundle: ModelBundle) -> dict:
        return {"head": "dense", "image_size": None, "sequence_length": bundle.spec.seq_len}

    def signature_input(self) -> str:
        return "string [N]"

    def raw_input_model(self, bundle: ModelBundle):
        from desktop_ft.core.models.bert import formats

        return formats.raw_input_model(bundle)

    def format_inputs(self, bundle: ModelBundle, raw_inputs) -> dict:
        from desktop_ft.core.models.bert import formats

        return formats.format_inputs(bundle, raw_inputs)

    def write_tokenizer(self, bundle: ModelBundle, path) -> bool:
        from desktop_ft.core.models.bert import formats

        formats.write_tokenizer_json(bundle, path)
        return True


FAMILY = BertFamily()
