"""Decoding image files — shared by the ``tf.data`` pipeline, the PyDataset one and
prediction."""

from __future__ import annotations


def _decode_errors() -> tuple:
    """What decoding a file that changed since the scan may raise, and nothing else: an
    OSError on read (PIL's UnidentifiedImageError and a truncated file's "image file is
    truncated" are OSErrors), PIL's SyntaxError for a broken chunk, and its
    DecompressionBombError. A bug in preprocessing (a TypeError, a ValueError) is not a
    file's fault and surfaces as an error with its cause."""
    from PIL import Image

    return (OSError, SyntaxError, Image.DecompressionBombError)


UNREADABLE = _decode_errors()


def unreadable_reason(e: BaseException) -> str:
    if isinstance(e, FileNotFoundError):
        return "deleted during training"
    return f"unreadable since the scan ({type(e).__name__}: {str(e)[:120]})"


def load_image_rgb(path: str):
    """Decode any supported image file to a ``uint8 [H, W, 3]`` array (EXIF-rotated)."""
    import numpy as np
    from PIL import Image, ImageOps

    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im)
        if im.mode != "RGB":
            im = im.convert("RGBA").convert("RGB") if im.mode in ("P", "LA", "RGBA") \
                else im.convert("RGB")
        return np.asarray(im, dtype=np.uint8)
