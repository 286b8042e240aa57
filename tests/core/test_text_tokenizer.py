"""One tokenizer per checkpoint: the app's token ids equal the checkpoint's reference
tokenizer on hard strings, accented words reach the model (a French task where only the
accented words tell the classes apart is learned), and the SavedModel's TensorFlow
tokenizer gives the app's ids (test_savedmodel_tokenizer.py checks every tokenizer kind)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from desktop_ft.core.models import ModelSpec, load_model
from desktop_ft.core.models.text import ARCHITECTURES, CheckpointTokenizer
from desktop_ft.core.models.text.hard_strings import EVERYDAY_STRINGS, HARD_STRINGS


def reference_ids(folder, texts, length):
    """The checkpoint's own tokenizer.json, as Hugging Face runs it."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tok.enable_truncation(max_length=length)
    tok.enable_padding(length=length, pad_id=0)
    return np.array([e.ids for e in tok.encode_batch(list(texts))], np.int32)


@pytest.mark.large
def test_app_ids_equal_the_checkpoints_tokenizer_on_hard_strings(minilm_folder, tmp_path):
    bert = ARCHITECTURES["bert"]
    ref = reference_ids(minilm_folder, HARD_STRINGS, 64)
    app = CheckpointTokenizer.from_source(str(minilm_folder), bert)
    assert app.source.startswith("tokenizer.json of ")
    np.testing.assert_array_equal(app.encode(HARD_STRINGS, 64)["token_ids"], ref)
    # Without tokenizer.json: vocab.txt + tokenizer_config.json, converted as Hugging Face
    # converts them (do_lower_case, strip_accents null → follows lowercasing, CJK).
    slow = tmp_path / "slow"
    slow.mkdir()
    for f in minilm_folder.iterdir():
        if f.is_file() and f.name != "tokenizer.json":
            shutil.copy(f, slow / f.name)
    converted = CheckpointTokenizer.from_source(str(slow), bert)
    assert converted.source.startswith("vocab.txt + tokenizer_config.json")
    np.testing.assert_array_equal(converted.encode(HARD_STRINGS, 64)["token_ids"], ref)
    # The fix this guards: accents are stripped, never [UNK] (id 100).
    ids = app.encode(["Café naïve résumé, Straße in München"], 16)["token_ids"][0]
    assert 100 not in ids
    # A cased checkpoint keeps its accents: strip_accents follows do_lower_case.
    config = json.loads((slow / "tokenizer_config.json").read_text())
    (slow / "tokenizer_config.json").write_text(json.dumps({**config,
                                                            "do_lower_case": False}))
    cased = CheckpointTokenizer.from_source(str(slow), bert)
    assert cased.encode(["Café"], 8)["token_ids"][0][1] != ids[1]


def test_tokenizer_of_a_keras_hub_preset_follows_its_config(tiny_bert_preset):
    import keras_hub

    app = CheckpointTokenizer.from_source(str(tiny_bert_preset), ARCHITECTURES["bert"])
    assert "keras-hub preset" in app.source
    texts = ["this is good", "a bad thing !", "THE GOOD, the bad"]
    theirs = keras_hub.models.BertTextClassifierPreprocessor.from_preset(
        str(tiny_bert_preset), sequence_length=16)(texts)
    np.testing.assert_array_equal(app.encode(texts, 16)["token_ids"],
                                  np.asarray(theirs["token_ids"]))


def test_a_folder_without_a_tokenizer_says_what_it_expected(tmp_path):
    from desktop_ft.core.errors import UserError

    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(UserError, match="has no tokenizer: expected tokenizer.json or "
                                        "vocab.txt"):
        CheckpointTokenizer.from_source(str(tmp_path), ARCHITECTURES["bert"])


# Only the accented words tell the classes apart; the rest of each sentence is shared.
# With accents turned into [UNK] (keras-hub's converter for uncased folders) the two
# classes read the same and a model scores at chance.
SUMMER = ["été", "élève", "fenêtre", "forêt", "château", "hôpital"]
WINTER = ["très", "déjà", "où", "père", "mère", "fièvre"]
FRAMES = ["Le mot {} revient souvent.", "On parle de {} ici.", "Voici {} encore.",
          "Elle a dit {} hier.", "Nous écrivons {} demain."]


def french_csv(path, rng):
    rows = ["text,label"]
    for i in range(80):
        label = ("ete", "hiver")[i % 2]
        word = rng.choice(SUMMER if label == "ete" else WINTER)
        rows.append(f"\"{rng.choice(FRAMES).format(word)}\",{label}")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def french_run(minilm_folder, tmp_path_factory):
    from desktop_ft.core.export import export_model
    from desktop_ft.core.training import TrainJob, fine_tune

    folder = tmp_path_factory.mktemp("french")
    data = french_csv(folder / "mots.csv", np.random.default_rng(0))
    job = TrainJob(model=ModelSpec("bert", preset=str(minilm_folder), seq_len=16),
                   data=str(data), epochs=8, batch_size=8, strategy="partial", lr=1e-3,
                   val_split=0.25, seed=1)
    result = fine_tune(job, record_run=False)
    out = folder / "export"
    # The SavedModel is what these tests read (its tokenizer, its answers, its card);
    # the 90 MB model.keras nobody does.
    record = export_model(result.bundle, out, result.classes,
                          samples=result.parity_samples(), info=result.export_info(),
                          formats="saved_model")
    return result, record, out


@pytest.mark.large
@pytest.mark.slow
def test_accented_words_decide_the_class(french_run):
    result, _, _ = french_run
    assert result.evaluation["accuracy"] >= 0.9, result.evaluation
    probs = result.bundle.predict_proba(["On parle de château ici.",
                                         "On parle de fièvre ici."])
    summer = result.classes.index("ete")
    assert probs[0][summer] > 0.5 > probs[1][summer]


@pytest.mark.large
@pytest.mark.slow
def test_savedmodel_tokenizes_and_answers_as_the_app(french_run):
    from desktop_ft.core.export import ExportedModel

    result, record, out = french_run
    tok = record["tokenizer"]
    assert tok["model"] == "WordPiece" and tok["matches_app"]
    assert tok["saved_model_checked"] >= len(HARD_STRINGS)
    # TensorFlow's ops follow BertNormalizer: "…", "ß", "½", no-break spaces, full-width
    # letters, soft hyphens and zero-width spaces read as the app reads them.
    assert tok["saved_model_differs"] == [], [d["text"] for d in tok["saved_model_differs"]]
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "gave the app's token ids on all" in card
    # The parity figure covers every text checked, the hard strings included.
    assert record["parity_samples"] == tok["saved_model_checked"]
    assert record["parity_max_abs_diff"] < 1e-4 and "parity_differs" not in record
    everyday = list(EVERYDAY_STRINGS)
    saved = ExportedModel(out).predict_proba(everyday)
    np.testing.assert_allclose(saved, result.bundle.predict_proba(everyday), atol=1e-4)
    export_json = json.loads((out / "export.json").read_text())
    assert export_json["tokenizer"]["source"].startswith("tokenizer.json of ")


@pytest.mark.large
def test_a_real_checkpoint_loads_for_the_right_architecture_only(minilm_folder):
    from desktop_ft.core.errors import UserError

    with pytest.raises(UserError, match="holds a 'bert' model, not RoBERTa.*--model bert"):
        load_model(ModelSpec("roberta", preset=str(minilm_folder), seq_len=16))
