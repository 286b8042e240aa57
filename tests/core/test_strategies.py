"""Strategies beyond freezing — BitFit, LoRA, int8 + LoRA, two-phase: which variables move
in fit and which stay bit-identical, counts equal Keras's, and export parity."""

import json

import numpy as np
import pytest

from desktop_ft.core import export as export_mod
from desktop_ft.core.errors import UserError
from desktop_ft.core.models import ModelSpec, load_model
from desktop_ft.core.observer import Observer
from desktop_ft.core.training import TrainJob, fine_tune, peft, prepare, prepare_strategy

# VGG16's layers at a few channels (what moves in two-phase training, the refusal of
# LoRA): these tests run on torch and jax too (test_backends), where XLA compiled the
# full width's two phases (alone, these two tests: jax 55 -> 37 CPU-s, torch 23 -> 18).
pytestmark = pytest.mark.usefixtures("narrow_vgg16")


def snapshot(model):
    return {v.path: np.array(v) for v in model.weights}


def changed(before, model):
    return {v.path for v in model.weights if v.path in before
            and not np.array_equal(before[v.path], np.array(v))}


def keras_counts(model):
    t = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
    f = sum(int(np.prod(v.shape)) for v in model.non_trainable_weights)
    return t, f


def run(preset, data, strategy, **kw):
    job = TrainJob(model=ModelSpec("bert", preset=str(preset), seq_len=16), data=str(data),
                   strategy=strategy, epochs=kw.pop("epochs", 1), batch_size=8,
                   lr=kw.pop("lr", 1e-2), **kw)
    bundle, scan = prepare(job)
    bundle = prepare_strategy(bundle, strategy, lora_rank=job.lora_rank)
    before = snapshot(bundle.model)
    result = fine_tune(job, bundle=bundle, scan=scan)
    return result, before


def test_bitfit_moves_only_biases_and_head(tiny_bert_preset, text_csv):
    result, before = run(tiny_bert_preset, text_csv, "bitfit")
    moved = changed(before, result.bundle.model)
    assert any(p.endswith("/bias") and not p.startswith("logits/") for p in moved)
    assert any(p.endswith("/beta") for p in moved)
    for path in moved:
        name = path.rsplit("/", 1)[-1]
        assert name in ("bias", "beta") or path.startswith("logits/"), path
    kernels = [p for p in before if p.endswith("/kernel") and not p.startswith("logits")]
    assert kernels and not set(kernels) & moved
    assert result.bundle.tree.totals() == keras_counts(result.bundle.model)


def test_lora_moves_only_adapters_and_head(tiny_bert_preset, text_csv, tmp_path):
    result, before = run(tiny_bert_preset, text_csv, "lora", lora_rank=2)
    bundle = result.bundle
    moved = changed(before, bundle.model)
    assert any("lora_kernel" in p for p in moved)
    for path in moved:
        assert "lora_kernel" in path or path.startswith("logits/"), path
    tree = bundle.tree
    q = tree.find("transformer_layer_0/self_attention_layer/query")
    assert [c.name for c in q.children] == ["weights", "lora"]
    assert q.children[1].kind == "LoRA adapter (rank 2)"
    layer = q.children[1].layer
    assert q.children[1].params == (np.prod(layer.lora_kernel_a.shape)
                                    + np.prod(layer.lora_kernel_b.shape))
    assert q.children[1].state == "on" and q.children[0].state == "off"
    assert tree.totals() == keras_counts(bundle.model)

    out = tmp_path / "lora"
    record = export_mod.export_model(bundle, out, result.classes, merge_lora=True,
                                     samples=["this is good", "bad"])
    assert record["parity_max_abs_diff"] < 1e-5
    assert record["lora_merged"] and record["merged_parity_max_abs_diff"] < 1e-5
    assert (out / "adapters.lora.h5").stat().st_size == record["adapter_bytes"] < 100_000
    # The merged model.keras loads with plain keras/keras-hub and has no LoRA layers.
    import keras

    merged = keras.saving.load_model(out / "model.keras")
    assert not peft.lora_layers(merged)
    texts = ["this is love", "hate it"]
    x = bundle.modality.model_inputs(bundle, texts)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(merged(x)),
                               keras.ops.convert_to_numpy(bundle.model(x)), atol=1e-5)
    # The adapter file alone restores what training learned.
    fresh = prepare_strategy(load_model(bundle.spec), "lora", lora_rank=2)
    peft.load_adapters(fresh, out / "adapters.lora.h5")
    np.testing.assert_allclose(fresh.predict_proba(texts), bundle.predict_proba(texts),
                               atol=1e-5)


def test_qlora_int8_backbone_trains_adapters(tiny_bert_preset, text_csv, tmp_path):
    result, before = run(tiny_bert_preset, text_csv, "qlora", lora_rank=2)
    bundle = result.bundle
    assert bundle.peft() == {"lora_rank": 2, "quantized": "int8"}
    q = bundle.model.backbone.get_layer("transformer_layer_0")._self_attention_layer._query_dense
    assert "int8" in str(q._kernel.dtype)
    moved = changed(before, bundle.model)
    assert any("lora_kernel" in p for p in moved)
    assert all("lora_kernel" in p or p.startswith("logits/") for p in moved), moved
    assert bundle.tree.totals() == keras_counts(bundle.model)
    record = export_mod.export_model(bundle, tmp_path / "q", result.classes)
    assert record["quantized"] == "int8" and record["parity_max_abs_diff"] < 1e-4
    assert record["weights_bytes"] < record["weights_bytes_float32"]
    with pytest.raises(UserError, match="does not apply to qlora"):
        export_mod.export_model(bundle, tmp_path / "q2", result.classes, merge_lora=True)


def test_two_phase_head_first_then_lower_lr(image_folder):
    phases = []

    class Rec(Observer):
        def on_train_begin(self, info):
            phases.append((info["phase"], info["first_epoch"], info["learning_rate"]))

    job = TrainJob(model=ModelSpec("vgg16", weights="none", image_size=32),
                   data=str(image_folder), strategy="two-phase", unfreeze_last=1,
                   phase1_epochs=1, epochs=2, batch_size=8)
    bundle, scan = prepare(job)
    before = snapshot(bundle.model)
    result = fine_tune(job, Rec(), bundle=bundle, scan=scan)
    assert phases == [(1, 0, 1e-3), (2, 1, pytest.approx(1e-4))]
    assert result.phase2_epoch == 1 and result.epochs_run == 2
    assert result.bundle.model.count_params() < 1e6               # narrow_vgg16
    assert result.bundle.tree.strategy == "two-phase"
    moved = changed(before, result.bundle.model)
    assert any(p.startswith("block5_conv") for p in moved)
    assert not any(p.startswith(("block1", "block4")) for p in moved)


def test_vgg16_refuses_lora_with_reason():
    bundle = load_model(ModelSpec("vgg16", weights="none", image_size=32))
    with pytest.raises(UserError, match="has only convolutions"):
        prepare_strategy(bundle, "lora")


def test_switching_away_from_lora_reloads(tiny_bert_preset):
    bundle = load_model(ModelSpec("bert", preset=str(tiny_bert_preset), seq_len=16))
    lora = prepare_strategy(bundle, "lora", lora_rank=2)
    assert peft.lora_layers(lora.model)
    plain = prepare_strategy(lora, "head")
    assert plain is not lora and not peft.lora_layers(plain.model)
    plain.tree.apply_strategy("head")
    plain.tree.apply_to_model()
    assert plain.tree.totals() == keras_counts(plain.model)


def test_cli_layers_and_train_with_lora(tiny_bert_preset, text_csv, tmp_path, capsys):
    from desktop_ft.cli import main

    assert main(["layers", "--model", "bert", "--preset", str(tiny_bert_preset),
                 "--strategy", "lora", "--lora-rank", "2"]) == 0
    out = capsys.readouterr().out
    assert "LoRA adapter (rank 2)" in out and "Strategy: lora" in out
    assert main(["train", "--model", "bert", "--preset", str(tiny_bert_preset), "--data",
                 str(text_csv), "--seq-len", "16", "--strategy", "lora", "--lora-rank", "2",
                 "--epochs", "1", "--merge-lora", "--export", str(tmp_path / "o"),
                 "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["lora_rank"] == 2 and summary["strategy"] == "lora"
    record = json.loads((tmp_path / "o" / "export.json").read_text())
    assert record["lora_merged"] and record["strategy"] == "lora"
    assert main(["layers", "--model", "vgg16", "--weights", "none", "--image-size", "32",
                 "--strategy", "qlora"]) == 1
    assert "has only convolutions" in capsys.readouterr().err


@pytest.mark.large
@pytest.mark.parametrize("strategy", ["lora", "qlora"])   # BitFit: the tiny model's test
def test_real_minilm_strategies(minilm_folder, text_csv, tmp_path, strategy):
    result, before = run(minilm_folder, text_csv, strategy, lr=1e-3)
    bundle = result.bundle
    assert bundle.tree.totals() == keras_counts(bundle.model)
    moved = changed(before, bundle.model)
    frozen_kernel = "transformer_layer_3/feedforward_intermediate_dense/kernel"
    assert frozen_kernel not in moved
    assert any("lora_kernel" in p for p in moved)
    record = export_mod.export_model(bundle, tmp_path / strategy, result.classes,
                                     merge_lora=strategy == "lora")
    # int8 kernels: the SavedModel's graph and Keras's eager call differ by up to
    # 3.3e-4 in a probability (measured); float models agree to 1e-6. (The real
    # checkpoint's SavedModel parity: here, and after partial training in
    # test_text_tokenizer's French task.)
    assert record["parity_max_abs_diff"] < (1e-3 if strategy == "qlora" else 1e-5)
    assert record["output_activation"] == "sigmoid"        # two classes: one unit
    if strategy == "lora":
        assert record["merged_parity_max_abs_diff"] < 1e-5
