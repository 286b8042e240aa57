"""The format writers of an export. Each one says what it needs, what it writes and how
its parity with the app's own model is measured; :func:`write_all` runs a plan of them
into the export's temporary folder: first every writer's files, then every parity.

Adding a format is one writer class here, listed in :data:`FORMAT_WRITERS` (its name
then parses on the command line and shows in ``--formats``), plus its model-card snippet
(:mod:`desktop_ft.core.export.model_card`) and its runtime check
(:mod:`desktop_ft.core.export.format_check`) where it needs one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import dataclasses
import shutil
from functools import cached_property
from pathlib import Path

from desktop_ft.core.export.parity import measure_parity, parity_samples, predict_with
from desktop_ft.core.observer import Observer


@dataclasses.dataclass
class ExportOptions:
    """What an export is asked for beyond the model, the folder and the class names.

    ``formats``: any of ``saved_model, keras, onnx, litert`` (default the first two).
    ``samples``: raw inputs (uint8 images or strings) on which each format's parity with
    the in-memory model is measured. ``info``: fields added to ``export.json`` (metrics,
    run, …). ``merge_lora``: ``model.keras`` with the LoRA adapters merged into the
    kernels. ``representative``: raw training inputs that calibrate the int8 LiteRT
    model; ``validation``: (raw inputs, labels) that measure its accuracy.
    ``app_probs``: the training backend's probabilities for ``samples`` and ``staged``:
    the folder where it wrote ``model.keras`` (both set by the export subprocess);
    ``in_subprocess=False``: that subprocess itself, which writes everything here."""
    formats: str | list | tuple | None = None
    samples: list | None = None
    info: dict | None = None
    merge_lora: bool = False
    representative: list | None = None
    validation: tuple | None = None
    app_probs: object = None
    staged: Path | None = None
    in_subprocess: bool = True


@dataclasses.dataclass
class ExportJob:
    """One export: the model (a bundle), the target folder, the class names in output
    order, what is asked, who hears the status lines and what stops it."""
    bundle: object
    out: Path
    labels: list
    options: ExportOptions
    observer: Observer
    stop: object = None     # a threading.Event: cancels between steps


@dataclasses.dataclass
class ExportContext:
    """What the writers share: the job (model, labels, options, observer, stop), the
    folder they write into, the formats of the plan and the parity inputs; what they
    find goes to ``fields`` (``export.json``, in the order found), ``formats``
    (``export.json``'s per-file records of the runtime formats) and ``parity`` (the
    SavedModel's figure)."""
    job: object
    folder: Path
    plan: tuple
    checks: list = dataclasses.field(default_factory=list)
    fields: dict = dataclasses.field(default_factory=dict)
    formats: dict = dataclasses.field(default_factory=dict)
    parity: dict = dataclasses.field(default_factory=dict)
    differing: set = dataclasses.field(default_factory=set)

    @classmethod
    def start(cls, job, folder: Path, plan: tuple) -> "ExportContext":
        from desktop_ft.core.training import peft

        options, bundle = job.options, job.bundle
        checks = list(options.samples) if options.app_probs is not None else \
            parity_samples(bundle, options.samples)
        state = bundle.peft()
        fields = {"lora_rank": state["lora_rank"], "quantized": state["quantized"],
                  "lora_merged": False}
        fields["weights_bytes"], fields["weights_bytes_float32"] = \
            peft.weights_bytes(bundle.model)
        return cls(job, folder, plan, checks, fields,
                   parity={"max_abs_diff": None, "samples": len(checks), "differs": []})

    @property
    def bundle(self):
        return self.job.bundle

    def say(self, message: str) -> None:
        self.job.observer.on_status(message)

    @cached_property
    def runtime(self) -> tuple:
        """(raw-input Keras model, its named inputs for the parity checks, the app's
        probabilities for them): what the ONNX and LiteRT writers share."""
        bundle, modality = self.bundle, self.bundle.modality
        wrapper = modality.raw_input_model(bundle)
        x = modality.format_inputs(bundle, self.checks)
        app = bundle.predict_proba(list(x["images"]) if bundle.input_kind == "images"
                                   else self.checks)
        return wrapper, x, app

    def runtime_record(self, name: str, runtime: str) -> dict:
        """``name``'s file record: bytes and max |app − runtime| over the parity checks,
        run by ``runtime`` (onnxruntime, the LiteRT interpreter) in a fresh process."""
        import numpy as np

        from desktop_ft.core.export.onnx_litert import check_in_fresh_process

        _, x, app = self.runtime
        probs = check_in_fresh_process(runtime, self.folder / name, x)
        return {"file": name, "bytes": (self.folder / name).stat().st_size,
                "parity_max_abs_diff": float(np.max(np.abs(probs - app)))}


class Writer(ABC):
    """One part of an export. ``format``: its name in ``--formats`` (None: written with
    every export); ``needs``: what the process must have; ``writes``: its files;
    ``parity``: how it is checked against the app."""
    format: str | None = None
    needs_tensorflow = False
    # Run by its own runtime in a fresh process (ONNX, LiteRT): written after the files
    # every export has, from the modality's raw-input model.
    runtime_checked = False
    needs = "Keras"
    writes: tuple[str, ...] = ()
    parity = "none"

    @abstractmethod
    def write(self, ctx: ExportContext) -> None:
        """Write this part's files into the staging folder ``ctx`` holds."""

    def measure(self, ctx: ExportContext) -> None:
        """Parity, once every file is written (the default: nothing to measure)."""
        return None


class SavedModelWriter(Writer):
    format, needs_tensorflow = "saved_model", True
    needs = "TensorFlow (and tensorflow-text for a text model's tokenizer)"
    writes = ("saved_model/",)
    parity = ("reloaded in this process and run on every parity input, the texts whose "
              "TensorFlow token ids differ listed beside the figure")

    def write(self, ctx):
        from desktop_ft.core.export import saved_model

        ctx.say("Writing SavedModel…")
        saved_model.write_saved_model(ctx.bundle, ctx.folder / "saved_model", ctx.job.labels)

    def measure(self, ctx):
        ctx.say("Checking the SavedModel against the Keras model…")
        # Over every text: those whose SavedModel token ids differ count in the
        # figure and are listed beside it (parity_differs) with their own difference.
        ctx.parity = measure_parity(ctx.bundle, ctx.folder, ctx.checks,
                                    ctx.job.options.app_probs, listed=ctx.differing)
        if ctx.differing:
            ctx.fields["parity_differs"] = ctx.parity["differs"]
            ctx.fields["parity_max_abs_diff_same_ids"] = ctx.parity["same_ids_max_abs_diff"]


class KerasWriter(Writer):
    format = "keras"
    writes = ("model.keras",)
    parity = "the Keras model itself; merged LoRA: max |app − merged| on the parity inputs"

    def write(self, ctx):
        options, folder = ctx.job.options, ctx.folder
        if options.merge_lora:
            self._write_merged(ctx)
        elif "keras" in ctx.plan and options.staged is not None:
            shutil.copyfile(options.staged / "model.keras", folder / "model.keras")  # as trained
        elif "keras" in ctx.plan:
            ctx.say("Writing model.keras…")
            save_keras_without_optimizer(ctx.bundle.model, folder / "model.keras")

    @staticmethod
    def _write_merged(ctx):
        import numpy as np

        from desktop_ft.core.training import peft

        bundle = ctx.bundle
        merged = peft.merged_model(bundle)
        merged.save(str(ctx.folder / "model.keras"))
        diff = np.abs(predict_with(merged, bundle, ctx.checks) -
                      bundle.predict_proba(ctx.checks))
        ctx.fields["lora_merged"] = True
        ctx.fields["merged_parity_max_abs_diff"] = float(diff.max())


class AdaptersWriter(Writer):
    """A LoRA model's adapters and head alone (every export of one)."""
    writes = ("adapters.lora.h5",)

    def write(self, ctx):
        from desktop_ft.core.training import peft

        staged = ctx.job.options.staged
        if staged is not None and (staged / "adapters.lora.h5").is_file():
            shutil.copyfile(staged / "adapters.lora.h5", ctx.folder / "adapters.lora.h5")
        elif ctx.fields["lora_rank"] is not None:
            ctx.fields["adapter_bytes"] = peft.save_adapters(ctx.bundle,
                                                             ctx.folder / "adapters.lora.h5")


class LabelsWriter(Writer):
    writes = ("labels.json",)

    def write(self, ctx):
        import json

        from desktop_ft.core.export.labels_file import labels_record

        record = labels_record(ctx.job.labels, ctx.bundle.decision)
        (ctx.folder / "labels.json").write_text(json.dumps(record, indent=2))


class TokenizerWriter(Writer):
    """A text model's ``tokenizer.json``; its check is that it gives the app's ids (and,
    with a SavedModel, on which texts TensorFlow's tokenizer does not)."""
    needs = "a text model"
    writes = ("tokenizer.json",)
    parity = "the app's token ids and padding mask on every parity text"

    def write(self, ctx):
        bundle = ctx.bundle
        if bundle.modality.write_tokenizer(bundle, ctx.folder / "tokenizer.json"):
            record = bundle.modality.tokenizer_record(bundle, "saved_model" in ctx.plan,
                                                      ctx.checks)
            record["matches_app"] = tokenizer_matches(bundle, ctx.folder / "tokenizer.json",
                                                      ctx.checks)
            ctx.fields["tokenizer"] = record
            ctx.differing = {d["index"] for d in record.get("saved_model_differs", [])}


class OnnxWriter(Writer):
    format, needs_tensorflow, runtime_checked = "onnx", True, True
    needs = "TensorFlow (tf2onnx), or PyTorch's exporter on the torch backend"
    writes = ("model.onnx",)
    parity = "onnxruntime in a fresh process on the parity inputs"

    def write(self, ctx):
        from desktop_ft.core.export.onnx_litert import write_onnx

        ctx.say("Writing model.onnx…")
        self.exporter = write_onnx(ctx.runtime[0], ctx.folder / "model.onnx")

    def measure(self, ctx):
        ctx.formats["onnx"] = {**ctx.runtime_record("model.onnx", "onnx"),
                               "exporter": self.exporter}


class LiteRTWriter(Writer):
    format, needs_tensorflow, runtime_checked = "litert", True, True
    needs = "TensorFlow"
    writes = ("model.tflite", "model_int8.tflite")
    parity = ("the LiteRT interpreter in a fresh process on the parity inputs; the int8 "
              "model's accuracy on held-out data beside the float model's")

    def write(self, ctx):
        from desktop_ft.core.export.onnx_litert import write_litert

        wrapper, folder = ctx.runtime[0], ctx.folder
        ctx.say("Writing model.tflite…")
        write_litert(wrapper, folder / "model.tflite")
        self.reps = ctx.job.options.representative or ctx.checks
        feeds = ctx.bundle.modality.format_inputs(ctx.bundle, self.reps)
        ctx.say(f"Writing model_int8.tflite (calibrated on {len(self.reps)} training "
                "inputs)…")
        write_litert(wrapper, folder / "model_int8.tflite",
                     representative=[{k: v[i:i + 1] for k, v in feeds.items()}
                                     for i in range(len(self.reps))])

    def measure(self, ctx):
        ctx.formats["litert"] = ctx.runtime_record("model.tflite", "litert")
        int8 = ctx.formats["litert_int8"] = ctx.runtime_record("model_int8.tflite", "litert")
        int8["calibrated_on"] = {
            "inputs": "training" if ctx.job.options.representative else "parity checks",
            "examples": len(self.reps)}
        validation = ctx.job.options.validation
        if validation is not None and len(validation[0]):
            int8.update(_int8_accuracy(ctx, validation))


def _int8_accuracy(ctx: ExportContext, validation: tuple) -> dict:
    import numpy as np

    from desktop_ft.core.export.onnx_litert import check_in_fresh_process

    vx = ctx.bundle.modality.format_inputs(ctx.bundle, validation[0])
    float_probs = check_in_fresh_process("litert", ctx.folder / "model.tflite", vx)
    int8_probs = check_in_fresh_process("litert", ctx.folder / "model_int8.tflite", vx)
    if ctx.bundle.multi_label:     # label sets: micro-F1 at the model's thresholds
        from desktop_ft.core.training.metrics import multi_label_metrics

        classes = list(ctx.job.labels)
        thresholds = ctx.bundle.decision.label_thresholds(len(classes))
        scores = {k: float(multi_label_metrics(validation[1], p, classes,
                                               thresholds)["micro_f1"])
                  for k, p in (("micro_f1", int8_probs), ("float_micro_f1", float_probs))}
        return {**scores, "validation_examples": len(validation[1])}
    labels = np.asarray(validation[1])
    return {"accuracy": float((int8_probs.argmax(1) == labels).mean()),
            "float_accuracy": float((float_probs.argmax(1) == labels).mean()),
            "validation_examples": int(len(labels))}


# The formats ``--formats`` names, in the order they are written.
FORMAT_WRITERS = (SavedModelWriter, KerasWriter, OnnxWriter, LiteRTWriter)


def plan_writers(formats: tuple, merge_lora: bool = False) -> list[Writer]:
    """The writers of an export of ``formats`` (the route's, all writable here), in the
    order they run: the SavedModel first, the runtime formats last; model.keras with
    ``merge_lora`` even when not asked for; labels, adapters and tokenizer always."""
    asked = [w() for w in FORMAT_WRITERS if w.format in formats or
             (w is KerasWriter and merge_lora)]
    return [*(w for w in asked if not w.runtime_checked), AdaptersWriter(), LabelsWriter(),
            TokenizerWriter(), *(w for w in asked if w.runtime_checked)]


def write_all(ctx: ExportContext, writers: list[Writer], check_stop) -> None:
    """Every writer's files, then every writer's parity; ``check_stop`` between steps."""
    for writer in writers:
        writer.write(ctx)
        check_stop()
    for writer in writers:
        writer.measure(ctx)
        check_stop()


def tokenizer_matches(bundle, path: Path, texts: list[str]) -> bool:
    """Whether tokenizer.json gives the app's token ids and padding mask for ``texts``."""
    import numpy as np
    from tokenizers import Tokenizer

    x = bundle.modality.format_inputs(bundle, texts)
    ids, mask = x["token_ids"], x["padding_mask"]
    tok = Tokenizer.from_file(str(path))
    encoded = tok.encode_batch(list(texts))
    return bool(np.array_equal(np.array([e.ids for e in encoded]), ids) and
                np.array_equal(np.array([e.attention_mask for e in encoded]), mask))


def save_keras_without_optimizer(model, path: Path) -> None:
    """``model.keras`` for inference: the weights once, without the optimizer's state
    (which would double or triple the file after fine-tuning)."""
    from desktop_ft.core import compat

    optimizer = getattr(model, "optimizer", None)
    model.optimizer = None
    try:
        with compat.keras_weights_through_disk():
            model.save(str(path))
    finally:
        model.optimizer = optimizer


def write_formats(bundle, folder: Path, formats: tuple, checks: list,
                  representative: list | None = None, validation: tuple | None = None,
                  observer=None) -> dict:
    """The ONNX / LiteRT files of ``formats`` alone, into ``folder``: what
    ``export.json`` records of each (file, bytes, parity on ``checks`` in a fresh process
    and for int8 LiteRT the accuracy on ``validation`` beside the float model's)."""
    job = ExportJob(bundle, folder, list(bundle.classes or []),
                    ExportOptions(representative=representative, validation=validation),
                    observer or Observer())
    ctx = ExportContext(job, folder, tuple(formats), list(checks))
    write_all(ctx, [w() for w in FORMAT_WRITERS if w.runtime_checked and w.format in formats],
              lambda: None)
    return ctx.formats
