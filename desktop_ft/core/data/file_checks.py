"""Reading one file of a dataset: an image PIL can fully decode, a text in whatever
encoding it was saved in. Each answers ``(ok, value or reason)`` and never raises: a
scan lists a bad file as skipped."""

from __future__ import annotations

from pathlib import Path


def check_image(path: Path) -> tuple[bool, str]:
    """(True, "") when PIL can fully decode the file, else (False, reason)."""
    try:
        if path.stat().st_size == 0:
            return False, "zero bytes"
        from PIL import Image

        with Image.open(path) as im:
            im.load()   # decodes every pixel: catches truncated files that verify() accepts
            if im.width < 1 or im.height < 1:
                return False, "empty image"
        return True, ""
    except OSError as e:
        msg = str(e)
        if "truncated" in msg.lower():
            return False, "truncated image"
        if "cannot identify image file" in msg:
            return False, "not an image (cannot identify image format)"
        return False, f"unreadable ({msg})"
    except Exception as e:  # PIL raises assorted errors on hostile files
        return False, f"undecodable image ({type(e).__name__}: {e})"


def decode_text(data: bytes) -> tuple[str | None, str]:
    """(text, encoding): UTF-8 (with or without BOM) first, else the encoding
    charset-normalizer settles on (Excel on Windows writes cp1252); (None, "") when it
    cannot tell."""
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    # Windows' Western code page first — what Excel writes, and the guess that short
    # texts otherwise get wrong (café read as cp1006) — unless the text makes no sense
    # in it; then whatever charset-normalizer finds most coherent.
    western = from_bytes(data, cp_isolation=["cp1252"]).best()
    best = western if western is not None and western.chaos < 0.2 else from_bytes(data).best()
    if best is None:
        return None, ""
    return str(best), best.encoding


def read_text(path: Path) -> tuple[bool, str]:
    """(True, the stripped text) when the file holds text, else (False, reason)."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        return False, f"unreadable ({e.strerror or e})"
    if not raw:
        return False, "zero bytes"
    text, _ = decode_text(raw)
    if text is None:
        return False, "undecodable text (neither UTF-8 nor a recognisable encoding)"
    text = text.strip()
    if not text:
        return False, "empty text (only whitespace)"
    return True, text
