"""Which image architecture a local folder holds, told from its ``config.json`` alone:
a keras-hub preset (``config.json`` names the backbone class), a Hugging Face
transformers folder (``model_type``: vit, deit, swin) or a timm folder
(``architecture``: resnet…, efficientnet…, mobilenetv3…, densenet…), converted by
keras-hub; and why a folder cannot load as the architecture asked for.
"""

from __future__ import annotations

from desktop_ft.core.errors import Worded
from desktop_ft.core.models.shared import read_config_json
from desktop_ft.core.models.image.architectures import ARCHITECTURES
from desktop_ft.core.models.image.entry import ImageArchitecture

# The rows a folder can hold: keras-hub's (keras.applications ones take a weights file).
_HUB = tuple(a for a in ARCHITECTURES.values() if a.source == "keras_hub")


def architecture_for_folder(path) -> ImageArchitecture | None:
    """The keras-hub entry whose preset, Hugging Face or timm folder ``path`` is, from
    its config.json; None when it is not one."""
    data = read_config_json(path)
    if data is None:
        return None
    class_name = str(data.get("class_name", ""))
    model_type = str(data.get("model_type", ""))
    timm = str(data.get("architecture", ""))
    for arch in _HUB:
        if class_name == arch.builder or model_type in arch.hf_model_types or (
                timm and arch.timm_architectures
                and timm.startswith(arch.timm_architectures)):
            return arch
    return None


def folder_mismatch(path, arch: ImageArchitecture) -> str | None:
    """One line saying why the local folder ``path`` cannot load as ``arch`` and what to
    use instead; None when it is ``arch``'s (or says nothing: keras-hub will tell)."""
    data = read_config_json(path)
    if data is None:
        return None
    found = architecture_for_folder(path)
    if found is arch:
        return None
    what = (f"a keras-hub {data['class_name']}" if data.get("class_name") else
            f"a Hugging Face '{data['model_type']}' model" if data.get("model_type") else
            f"a timm '{data['architecture']}' model" if data.get("architecture") else None)
    if what is None:
        return None
    if found is not None:
        return Worded(f"{path} holds {what}, not {arch.short}: use --model {found.name} "
                      f"({found.short}).", window=f"{path} holds {what}, not {arch.short}: "
                      f"choose {found.short} under Network.")
    known = ", ".join(a.name for a in _HUB)
    facts = f"{path} holds {what}, which no image entry loads. keras-hub image entries: {known}"
    return Worded(f"{facts} (`desktop-ft models`); a keras.applications network takes a "
                  "Keras weights file (--weights FILE).",
                  window=f"{facts}; a keras.applications network takes a Keras weights "
                         "file (Weights → From file…).")
