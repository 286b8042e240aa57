"""A small synthetic sentiment dataset shared by the text benchmarks."""

from pathlib import Path

import numpy as np

POS = ["good", "great", "excellent", "wonderful", "happy", "love", "fine", "superb"]
NEG = ["bad", "awful", "terrible", "sad", "hate", "poor", "boring", "worst"]
FILLER = ["the", "movie", "was", "really", "quite", "and", "plot", "acting", "a", "film"]


def make_csv(path: Path, n: int = 240, seed: int = 0, noise: float = 0.15) -> Path:
    """One sentiment word among seven fillers, and ``noise`` of the labels flipped, so
    the strategies do not all reach 100 %."""
    rng = np.random.default_rng(seed)
    rows = ["text,label"]
    for i in range(n):
        label = "pos" if i % 2 else "neg"
        words = list(rng.choice(FILLER, 7)) + [rng.choice(POS if label == "pos" else NEG)]
        rng.shuffle(words)
        if rng.random() < noise:
            label = "neg" if label == "pos" else "pos"
        rows.append(f"{' '.join(words)},{label}")
    path.write_text("\n".join(rows) + "\n")
    return path
