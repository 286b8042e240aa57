"""The text modality: one :class:`TextModality` per entry of the architecture table, each a
keras-hub TextClassifier fed by the checkpoint's own tokenizer.

Example:
    >>> from desktop_ft.core.models import ModelSpec, load_model
    >>> spec = ModelSpec("bert", preset="path/to/all-MiniLM-L6-v2", seq_len=64, num_classes=3)
    >>> load_model(spec).predict_proba(["great film", "Café crème"]).shape
    (2, 3)
"""

from __future__ import annotations

from desktop_ft.core.errors import UserError, Worded
from desktop_ft.core.models.base import Modality, ModelBundle, ModelSpec
from desktop_ft.core.models.shared import needs_preset
from desktop_ft.core.models.text import build as build_mod
from desktop_ft.core.models.text import lora, raw_input
from desktop_ft.core.models.text import tree as tree_mod
from desktop_ft.core.models.text.architectures import ARCHITECTURES
from desktop_ft.core.models.text.tokenizer import TOKENIZER_FILE, CheckpointTokenizer


class TextModality(Modality):
    input_kind = "text"
    spec_fields = ("preset", "seq_len")
    lora_unavailable = None
    finetune_lr = 5e-5
    few_params_lr = 1e-3
    optimizer = "adamw"
    raw_input = raw_input

    def table_row(self) -> dict:
        return {**super().table_row(),
                "input": Worded("text (tokens, --seq-len)",
                                window="text (tokens, Sequence length)"),
                "weights": f"keras-hub presets ({', '.join(self.presets[:2])}, …) or a "
                           "Hugging Face folder"}

    def check_spec(self, spec: ModelSpec) -> None:
        if not spec.preset and spec.weights != "none":
            raise needs_preset(self.short, self.arch.presets[0])
        if spec.seq_len < 8:
            raise UserError(f"--seq-len must be at least 8, got {spec.seq_len}.",
                            window_message="Sequence length must be at least 8, got "
                            f"{spec.seq_len}.")
        if spec.augment:
            raise UserError("Data augmentation is offered for images only.")

    def uses_pretrained_weights(self, spec: ModelSpec) -> bool:
        return spec.weights != "none"

    def training_bytes_per_example(self, spec: ModelSpec) -> int:
        # Attention scores (heads × L²) and hidden states (L × 4·hidden) per layer, for a
        # base-sized model (12 layers, 12 heads, hidden 768), ×4 bytes, ×2 gradients.
        length = spec.seq_len
        return int(12 * (12 * length ** 2 + length * 4 * 768) * 4 * 2)

    def build(self, spec, observer, stop=None) -> ModelBundle:
        return build_mod.build(self, spec, observer, stop)

    def rebuild_head(self, bundle: ModelBundle, spec: ModelSpec) -> ModelBundle:
        new = build_mod.classifier(self, bundle.parts["backbone"],
                                   bundle.parts.get("tokenizer"), spec)
        new.weights_source = bundle.weights_source
        return new

    def build_tree(self, bundle: ModelBundle):
        return tree_mod.build_tree(bundle)

    def model_inputs(self, bundle: ModelBundle, texts) -> dict:
        """The model's input arrays for ``texts``, from the checkpoint's tokenizer."""
        return build_mod.require_tokenizer(bundle).encode(texts, bundle.spec.seq_len)

    def make_dataset(self, bundle, split, batch_size, *, shuffle, seed=0, epochs=None,
                     class_weights=None, on_unreadable=None):
        # Tokenized once, up front (the texts are in memory since the scan: nothing can
        # become unreadable); the same batches on every backend.
        from desktop_ft.core.data import datasets
        from desktop_ft.core.data.batches import ArrayBatches

        x = self.model_inputs(bundle, split.items)
        y, w = datasets.targets_and_weights(split, bundle.num_classes, bundle.binary,
                                            class_weights)
        return ArrayBatches((x, y, w), batch_size, seed=seed if shuffle else None,
                            first_epoch=epochs[0] if epochs else 0)

    def explain(self, bundle: ModelBundle, texts, label=None) -> list[dict]:
        from desktop_ft.core.models.text.saliency import token_importance

        return token_importance(bundle, texts, label)

    def add_lora(self, bundle: ModelBundle, rank: int) -> None:
        lora.add_lora(bundle, rank)

    def quantize_int8(self, bundle: ModelBundle) -> None:
        lora.quantize_int8(bundle)

    def merged_model(self, bundle: ModelBundle):
        return lora.merged_model(bundle)

    # ---------------------------------------------------------------- export
    def serve_function(self, bundle: ModelBundle, outputs):
        import tensorflow as tf

        model = bundle.model
        preprocessor = self._tf_preprocessor(bundle)
        segment_ids = self.arch.segment_ids

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="texts")])
        def serve(texts):
            x = preprocessor(texts)
            inputs = {"token_ids": x["token_ids"], "padding_mask": x["padding_mask"]}
            if segment_ids:
                inputs["segment_ids"] = tf.zeros_like(x["token_ids"])
            return outputs(model(inputs, training=False))
        return serve

    def saved_model_unavailable(self, try_import: bool = True) -> str | None:
        from desktop_ft.core import backend

        return backend.tensorflow_text_missing(try_import)

    def _tf_preprocessor(self, bundle: ModelBundle):
        preprocessor = bundle.parts.get("tf_preprocessor")
        if preprocessor is None:
            from desktop_ft.core.models.text.tf_tokenizer import tf_preprocessor

            preprocessor = bundle.parts["tf_preprocessor"] = tf_preprocessor(bundle)
        return preprocessor

    def archive_extras(self, bundle: ModelBundle) -> list:
        # The tokenizer's lookup tables must be tracked to be saved.
        return [self._tf_preprocessor(bundle)]

    def synthetic_inputs(self) -> list:
        from desktop_ft.core.models.text.hard_strings import HARD_STRINGS

        return ["A short sentence.", "Another, longer example sentence with punctuation, "
                "numbers like 42 and UPPER case words!", *HARD_STRINGS]

    def export_fields(self, bundle: ModelBundle) -> dict:
        return {"head": "dense", "image_size": None, "sequence_length": bundle.spec.seq_len,
                "architecture": self.arch.name}

    def tokenizer_record(self, bundle: ModelBundle, saved_model: bool, texts) -> dict:
        """``export.json``'s ``tokenizer``: where it comes from and, with a SavedModel,
        the texts on which TensorFlow's ops give other ids than the app."""
        record = build_mod.require_tokenizer(bundle).describe()
        record["file"] = TOKENIZER_FILE
        if saved_model:
            from desktop_ft.core.models.text.tf_tokenizer import id_differences

            differing = id_differences(bundle, self._tf_preprocessor(bundle), texts)
            record["saved_model_checked"] = len(texts)
            record["saved_model_differs"] = differing
        return record

    def signature_input(self) -> str:
        return "string [N]"

    def write_tokenizer(self, bundle: ModelBundle, path) -> bool:
        raw_input.write_tokenizer_json(bundle, path)
        return True

    def attach_saved_assets(self, bundle: ModelBundle, folder) -> None:
        """A model loaded from an export's ``model.keras``: its tokenizer from the
        ``tokenizer.json`` written beside it."""
        from pathlib import Path

        bundle.parts["backbone"] = bundle.model.backbone
        bundle.parts["tokenizer"] = CheckpointTokenizer.from_file(
            Path(folder) / TOKENIZER_FILE, segment_ids=self.arch.segment_ids,
            source=f"{TOKENIZER_FILE} of the export {Path(folder).name}")


# One TextModality per row of the table, by the architecture's name.
BY_ARCHITECTURE: dict[str, TextModality] = {name: TextModality(arch)
                                            for name, arch in ARCHITECTURES.items()}
