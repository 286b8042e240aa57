"""Weight decay, label smoothing and augmentation strength reach what trains: the compiled
optimizer and loss, the augmentation layers' ranges; a validation folder replaces the
split of a scan the caller already holds; the CLI flags set them; bad values are refused
in two wordings."""

from __future__ import annotations

import pytest

from desktop_ft.core.errors import UserError
from desktop_ft.core.models import ModelSpec, load_model
from desktop_ft.core.training import TrainJob, compile_model

pytestmark = pytest.mark.usefixtures("narrow_vgg16")

VGG = ModelSpec("vgg16", weights="none", image_size=32, num_classes=3)


@pytest.fixture(scope="module")
def bundle():
    return load_model(VGG)


def compiled(bundle, **job):
    compile_model(bundle, TrainJob(model=VGG, **job), 1e-3)
    return bundle.model.optimizer, bundle.model.loss


@pytest.mark.parametrize("job, kind, decay", [
    ({}, "Adam", None),                                          # images' default
    ({"optimizer": "adamw"}, "AdamW", 0.01),                     # AdamW's own default
    ({"optimizer": "adamw", "weight_decay": 0.05}, "AdamW", 0.05),
    ({"optimizer": "sgd"}, "SGD", None),
    ({"optimizer": "sgd", "weight_decay": 1e-4}, "SGD", 1e-4),
    ({"weight_decay": 0.02}, "AdamW", 0.02),    # the default Adam, with decay: AdamW
])
def test_weight_decay_reaches_the_compiled_optimizer(bundle, job, kind, decay):
    optimizer, _ = compiled(bundle, **job)
    assert type(optimizer).__name__ == kind
    assert optimizer.weight_decay == pytest.approx(decay) if decay else \
        not optimizer.weight_decay


def test_label_smoothing_reaches_the_compiled_loss(bundle):
    _, loss = compiled(bundle, label_smoothing=0.1)
    assert type(loss).__name__ == "CategoricalCrossentropy"
    assert loss.get_config()["label_smoothing"] == pytest.approx(0.1)
    _, loss = compiled(bundle)
    assert loss.get_config()["label_smoothing"] == 0


@pytest.mark.parametrize("job, cli, window", [
    ({"optimizer": "adam", "weight_decay": 0.01}, "--optimizer adamw or sgd",
     "choose AdamW"),
    ({"weight_decay": -1.0}, "--weight-decay must be 0 or a positive number",
     "Weight decay (Train tab, Advanced) must be"),
    ({"label_smoothing": 1.0}, "--label-smoothing must be a fraction",
     "Label smoothing (Train tab, Advanced) must be"),
])
def test_bad_values_are_refused_in_two_wordings(job, cli, window):
    with pytest.raises(UserError) as e:
        TrainJob(model=VGG, **job)
    assert cli in str(e.value) and window in e.value.window_message
    assert "--" not in e.value.window_message


def augment_factors(model) -> dict:
    zoom = model.get_layer("augment_zoom")
    return {"rotation": tuple(model.get_layer("augment_rotation").factor),
            "zoom": (zoom.height_factor, zoom.width_factor),
            "contrast": tuple(model.get_layer("augment_contrast").factor)}


def test_augmentation_strength_scales_the_layers_ranges():
    spec = VGG.replace(augment=["flip", "rotation", "zoom", "contrast"])
    today = augment_factors(load_model(spec).model)
    # The default keeps the ranges the app always had, exactly.
    assert today == {"rotation": (-0.05, 0.05), "zoom": (0.1, None), "contrast": (0, 0.2)}
    doubled = augment_factors(load_model(spec.replace(augment_strength=2.0)).model)
    assert doubled == {"rotation": (-0.1, 0.1), "zoom": (0.2, None), "contrast": (0, 0.4)}
    with pytest.raises(UserError) as e:
        load_model(spec.replace(augment_strength=0.0))
    assert "--augment-strength must be above 0" in str(e.value)
    assert e.value.window_message.startswith("Augmentation strength (Model panel)")


def test_a_validation_folder_replaces_the_split_of_a_scan_already_made(image_folder,
                                                                       tmp_path):
    from desktop_ft.core import data
    from desktop_ft.core.data.splits import split_validation
    from desktop_ft.core.training.fit import with_val_data
    from tests.conftest import write_image_folder

    val_folder = write_image_folder(tmp_path / "val", per_class=2, seed=5)
    scan = data.scan(str(image_folder))
    job = TrainJob(model=VGG, data=str(image_folder), val_data=str(val_folder))
    validated = with_val_data(scan, job)
    train, val = split_validation(validated, job.val_split, job.seed)
    assert sorted(val.items) == sorted(data.scan(str(val_folder)).train.items)
    assert len(train) == len(scan.train)            # every example of the data trains
    assert scan.val is None                         # the caller's scan is left alone


def test_the_cli_flags_set_the_job(image_folder):
    from desktop_ft.cli.parser import build_parser
    from desktop_ft.cli.train_commands import _project_from_args

    args = build_parser().parse_args([
        "train", "--data", str(image_folder), "--export", "out", "--model", "vgg16",
        "--weights", "none", "--optimizer", "sgd", "--weight-decay", "0.001",
        "--label-smoothing", "0.2", "--augment", "rotation", "--augment-strength", "0.5"])
    job = _project_from_args(args).job
    assert (job.optimizer, job.weight_decay, job.label_smoothing) == ("sgd", 0.001, 0.2)
    assert job.model.augment_strength == 0.5


def test_runs_compared_show_the_decay_smoothing_and_strength_they_trained_with():
    from desktop_ft.core.training.compare import run_settings

    def settings(job, optimizer):
        return run_settings({"job": job, "settings": {"optimizer": optimizer}})

    plain = settings(TrainJob(model=VGG.replace(augment=["flip"])).to_dict(), "adam")
    assert (plain["weight_decay"], plain["label_smoothing"], plain["augmentation"]) == \
        (0, 0, "flip")
    tuned = TrainJob(model=VGG.replace(augment=["rotation", "zoom"], augment_strength=2.0),
                     weight_decay=0.05, label_smoothing=0.1)
    shown = settings(tuned.to_dict(), tuned.optimizer_name())
    assert (shown["optimizer"], shown["weight_decay"], shown["label_smoothing"],
            shown["augmentation"]) == ("adamw", 0.05, 0.1, "rotation, zoom (strength ×2)")
    assert settings({"optimizer": "adamw"}, "adamw")["weight_decay"] == 0.01
