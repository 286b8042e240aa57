"""How a model's probabilities become answers: :class:`Decision`.

Three settings, all stored with a trained model (run.json, ``labels.json`` and
``export.json``) and applied the same way by the app and by every export:

- ``temperature`` (single-label): calibration by temperature scaling, fitted on the
  validation split after training. Probabilities ``p`` become ``p^(1/T)`` renormalised —
  the softmax of the logits divided by ``T`` (a sigmoid's two classes alike). ``T = 1``
  changes nothing; the winning class never changes.
- ``thresholds`` (multi-label): one per label, chosen on the validation split for the
  best F1; a label is answered when its probability reaches its threshold.
- ``unknown_below`` (single-label, optional): when the top probability is below it the
  answer is "unknown" — "none of these" for inputs unlike any class.

Example:
    >>> import numpy as np
    >>> d = Decision(temperature=2.0, unknown_below=0.7)
    >>> p = d.calibrated(np.array([[0.9, 0.1]], np.float32))
    >>> round(float(p[0, 0]), 3)
    0.75
    >>> d.answers(p, ["cat", "dog"])[0]["label"]
    'cat'
    >>> Decision(unknown_below=0.8).answers(np.array([[0.6, 0.4]]), ["cat", "dog"])[0]["label"]
    'unknown'
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

UNKNOWN = "unknown"
# Probabilities are clipped here before their logarithm: a float32 softmax can hold 0.
_TINY = 1e-12


@dataclass
class Decision:
    multi_label: bool = False
    temperature: float = 1.0
    thresholds: list | None = None        # multi-label: one per label, in label order
    unknown_below: float | None = None    # single-label: below this top probability
    calibration: dict = field(default_factory=dict)   # how T was fitted (ECE before/after)

    def __post_init__(self):
        if not (self.temperature > 0 and math.isfinite(self.temperature)):
            raise ValueError(f"temperature must be a positive number, got {self.temperature}")
        if self.unknown_below is not None and not 0 <= self.unknown_below <= 1:
            raise ValueError(f"unknown_below must be in [0, 1], got {self.unknown_below}")
        if self.thresholds is not None:
            self.thresholds = [float(t) for t in self.thresholds]

    # ------------------------------------------------------------------ records
    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict | None) -> "Decision":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (d or {}).items() if k in names})

    def replace(self, **changes) -> "Decision":
        return Decision.from_dict({**self.to_dict(), **changes})

    # ------------------------------------------------------------------ probabilities
    @property
    def calibrates(self) -> bool:
        return not self.multi_label and self.temperature != 1.0

    def calibrated(self, probs):
        """Class probabilities ``[N, C]`` (NumPy, rows summing to 1) with the temperature
        applied; multi-label probabilities pass unchanged."""
        import numpy as np

        probs = np.asarray(probs, dtype=np.float32)
        if not self.calibrates or probs.size == 0:
            return probs
        z = np.log(np.clip(probs.astype(np.float64), _TINY, 1.0)) / self.temperature
        z -= z.max(axis=-1, keepdims=True)
        e = np.exp(z)
        return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)

    def calibrated_tensor(self, ops, probs):
        """:meth:`calibrated` inside a graph: ``ops`` is ``keras.ops`` (or an object with
        ``log``, ``clip``, ``softmax``-free ``exp``/``sum``/``max``: TensorFlow's
        ``tf.math`` wrapped alike)."""
        if not self.calibrates:
            return probs
        z = ops.log(ops.clip(probs, _TINY, 1.0)) / self.temperature
        z = z - ops.max(z, axis=-1, keepdims=True)
        e = ops.exp(z)
        return e / ops.sum(e, axis=-1, keepdims=True)

    # ------------------------------------------------------------------ answers
    def label_thresholds(self, n: int) -> list[float]:
        return list(self.thresholds) if self.thresholds else [0.5] * n

    def answers(self, probs, classes: list[str]) -> list[dict]:
        """One answer per row of (already calibrated) ``probs``:

        - single-label: ``{"label", "index", "probability", "unknown"}`` — ``label`` is
          :data:`UNKNOWN` (and ``index`` -1) when the top probability is below
          ``unknown_below``;
        - multi-label: ``{"labels": [{"label", "probability", "threshold"}, …]}`` of the
          labels that reach their threshold, most probable first (possibly none).
        """
        import numpy as np

        probs = np.asarray(probs, dtype=np.float32)
        out = []
        if self.multi_label:
            ts = self.label_thresholds(len(classes))
            for row in probs:
                passed = [{"label": classes[i], "probability": float(row[i]),
                           "threshold": ts[i]} for i in range(len(classes)) if row[i] >= ts[i]]
                out.append({"labels": sorted(passed, key=lambda a: -a["probability"])})
            return out
        for row in probs:
            i = int(row.argmax())
            p = float(row[i])
            unknown = self.unknown_below is not None and p < self.unknown_below
            out.append({"label": UNKNOWN if unknown else classes[i], "index": -1 if unknown
                        else i, "probability": p, "unknown": unknown})
        return out

    def predicted_sets(self, probs):
        """Multi-label: a boolean ``[N, C]`` array of the labels each row answers."""
        import numpy as np

        probs = np.asarray(probs, dtype=np.float32)
        return probs >= np.asarray(self.label_thresholds(probs.shape[-1]), np.float32)
