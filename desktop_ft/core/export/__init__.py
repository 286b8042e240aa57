"""Export a trained model: a raw-input TensorFlow SavedModel, the .keras file, labels and
a record of what was trained — written atomically (docs/ARCHITECTURE.md, "Export").

``OUT/saved_model``  endpoint ``serve`` (= ``serving_default``). Images: ``uint8
                     [N, H, W, 3]`` of any H, W (resize + the network's preprocessing inside).
                     Text: ``string [N]`` (tokenizer inside; loading needs
                     ``import tensorflow_text``). Returns ``probs`` (float32
                     ``[N, num_classes]``), ``class_index`` (int64 ``[N]``) and ``label``
                     (string ``[N]``); multi-label: ``probs`` ``[N, labels]`` (a sigmoid
                     per label) and ``predicted`` (bool: at or above each threshold).
``OUT/model.keras``  the Keras model.
``OUT/labels.json``  class names in output order (multi-label: with their thresholds,
                     :mod:`.labels_file`).
``OUT/export.json``  model, weights source, strategy, counts, input size, metrics, parity,
                     and ``formats_not_written`` ({format: why}) for what this machine
                     could not write (a text SavedModel without tensorflow-text).

Example:
    >>> info = export_model(result.bundle, "out/", labels=result.classes,
    ...                     samples=[...], extra={"metrics": ...})
    >>> ExportedModel("out/").predict_proba([image])   # runs the SavedModel

The package: :mod:`.writer` (``export_model``), :mod:`.plan` (which formats are written
where), :mod:`.writers` (``ExportOptions``, and one writer per format: what it needs,
writes and how its parity is measured), :mod:`.saved_model`, :mod:`.onnx_litert` (ONNX,
LiteRT), :mod:`.parity`, :mod:`.exported` (``ExportedModel``), :mod:`.via_subprocess` and
its subprocess :mod:`.tf_export`, :mod:`.reexport` (from an export or a run folder),
:mod:`.model_card` and :mod:`.format_check`.
"""

from desktop_ft.core.export.exported import ExportedModel
from desktop_ft.core.export.parity import parity_line, parity_parts
from desktop_ft.core.export.via_subprocess import not_written_note
from desktop_ft.core.export.writer import FORMAT_VERSION, export_model

__all__ = ["FORMAT_VERSION", "ExportedModel", "export_model", "not_written_note",
           "parity_line", "parity_parts"]
