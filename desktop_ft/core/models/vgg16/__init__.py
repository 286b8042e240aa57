"""VGG16 from ``keras.applications`` for images (see :mod:`.family`)."""

from desktop_ft.core.models.vgg16.build import AUGMENTATIONS, preprocess_uint8
from desktop_ft.core.models.vgg16.family import FAMILY, NO_LORA, Vgg16Family
from desktop_ft.core.models.vgg16.weights import (
                                                  IMAGENET_FILES,
                                                  DownloadCancelled,
                                                  download_imagenet,
                                                  load_weights_file,
)

__all__ = ["AUGMENTATIONS", "FAMILY", "IMAGENET_FILES", "NO_LORA", "DownloadCancelled",
           "Vgg16Family", "download_imagenet", "load_weights_file", "preprocess_uint8"]
