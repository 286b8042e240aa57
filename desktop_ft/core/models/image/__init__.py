"""The image modality: one :class:`ImageModality` per architecture (row) of the table in
:mod:`.architectures`
(VGG16/19, ResNet50V2, MobileNetV2/V3, EfficientNetV2-B0…B3, ConvNeXt-Tiny, DenseNet121,
Xception from ``keras.applications``; ViT, DeiT, Swin, ResNet, EfficientNet, MobileNetV3
and DenseNet from keras-hub), each under a new head."""

from desktop_ft.core.models.image.architectures import ARCHITECTURES
from desktop_ft.core.models.image.entry import ImageArchitecture
from desktop_ft.core.models.image.folders import architecture_for_folder
from desktop_ft.core.models.image.modality import BY_ARCHITECTURE, ImageModality
from desktop_ft.core.models.image.preprocess import AUGMENTATIONS, preprocess_uint8
from desktop_ft.core.models.image.weights import (DownloadCancelled, download_imagenet,
                                                  load_weights_file)

__all__ = ["ARCHITECTURES", "AUGMENTATIONS", "BY_ARCHITECTURE", "DownloadCancelled",
           "ImageArchitecture", "ImageModality", "architecture_for_folder",
           "download_imagenet", "load_weights_file", "preprocess_uint8"]
