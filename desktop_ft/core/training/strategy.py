"""Setting a loaded model up for a strategy — the one function the CLI, the window and
project replay all use.

Tree strategies (head, partial, full, bitfit, two-phase) only change trainable flags.
LoRA and int8 + LoRA change the model (one way), so switching away from them, or to
another rank, reloads it from its source first.

A ``stop`` event cancels: before each step (a reload, int8, LoRA) nothing has changed yet,
so the step is skipped. Quantizing and adding adapters are single Keras calls that cannot
be interrupted: a cancel that arrives during one lets it finish, then puts the model back
exactly as it was (rebuilt from its source with its own weights, trainable flags and
classes) before raising :class:`StrategyCancelled`.
"""

from __future__ import annotations

import dataclasses
import threading

from desktop_ft.core.errors import UserError
from desktop_ft.core.layer_tree import LayerTree
from desktop_ft.core.models import ModelBundle, load_model
from desktop_ft.core.observer import Observer

PEFT_STRATEGIES = ("lora", "qlora")


class StrategyCancelled(UserError):
    """Preparing the model was cancelled; the bundle is as it was before."""


def _stop_if_asked(stop) -> None:
    if stop is not None and stop.is_set():
        raise StrategyCancelled("Preparing the model was cancelled; the model is unchanged.")


def prepare_strategy(bundle: ModelBundle, strategy: str, *, unfreeze_last: int = 1,
                     lora_rank: int = 4, patterns=(), observer: Observer | None = None,
                     stop: threading.Event | None = None) -> ModelBundle:
    """Return a bundle set up for ``strategy`` (``auto``: the modality's default for its
    weights), with the tree set to it and ``patterns`` applied. The bundle may be a new
    one when the model had to be reloaded."""
    observer = observer or Observer()
    if strategy == "auto":
        strategy = bundle.modality.default_strategy(bundle.spec)
    bundle = prepare_model(bundle, strategy, lora_rank, observer, stop)
    bundle.tree.apply_strategy(strategy, unfreeze_last)
    note = bundle.tree.unfreeze_last_note(unfreeze_last)
    if note and strategy in ("partial", "two-phase"):
        observer.on_status(note)
    if patterns:
        bundle.tree.apply_patterns(list(patterns))
    return bundle


def prepare_model(bundle: ModelBundle, strategy: str | None, lora_rank: int = 4,
                  observer: Observer | None = None,
                  stop: threading.Event | None = None) -> ModelBundle:
    """Add or undo LoRA/int8 so the model can run ``strategy``; the tree is rebuilt when
    the model changed (its states are then the model's own)."""
    observer = observer or Observer()
    state = bundle.peft()
    wants_lora = strategy in PEFT_STRATEGIES
    wants_int8 = strategy == "qlora"
    if wants_lora and bundle.modality.lora_unavailable:
        raise UserError(bundle.modality.lora_unavailable)
    if wants_lora and lora_rank < 1:
        raise UserError(f"--lora-rank must be at least 1, got {lora_rank}.",
                        window_message=f"The LoRA rank (beside LoRA on the Layers tab) must "
                        f"be at least 1, got {lora_rank}.")
    needs_reload = (
        (state["lora_rank"] is not None and (not wants_lora or state["lora_rank"] != lora_rank))
        or (state["quantized"] and not wants_int8)
        or (wants_int8 and not state["quantized"] and state["lora_rank"] is not None))
    _stop_if_asked(stop)
    if needs_reload:       # a new bundle: the caller's stays as it is until we return
        observer.on_status("Reloading the model to undo LoRA/quantization…")
        classes = bundle.classes
        bundle = load_model(bundle.spec, observer, stop)
        bundle.classes = classes
        state = bundle.peft()
        _stop_if_asked(stop)
    before = None if needs_reload or not (
        (wants_int8 and not state["quantized"]) or
        (wants_lora and state["lora_rank"] is None)) else _Snapshot.of(bundle)
    if wants_int8 and not state["quantized"]:
        observer.on_status("Quantizing the backbone to int8…")
        bundle.modality.quantize_int8(bundle)
        state["quantized"] = "int8"
    if wants_lora and state["lora_rank"] is None:
        observer.on_status(f"Adding LoRA adapters (rank {lora_rank}) to query and value…")
        bundle.modality.add_lora(bundle, lora_rank)
        state["lora_rank"] = lora_rank
    if before is not None and stop is not None and stop.is_set():
        before.restore(bundle, observer)
        _stop_if_asked(stop)
    if wants_lora or needs_reload or bundle.tree is None:
        old_strategy = bundle.tree.strategy if bundle.tree is not None else "custom"
        bundle.tree = LayerTree.from_bundle(bundle)
        bundle.tree.strategy = old_strategy
    return bundle


@dataclasses.dataclass
class _Snapshot:
    """What a bundle was before int8/LoRA changed its model in place: enough to put it
    back after a cancel (the changes themselves cannot be undone)."""

    weights: list
    classes: list | None
    states: dict | None
    strategy: str | None

    @classmethod
    def of(cls, bundle: ModelBundle) -> "_Snapshot":
        tree = bundle.tree
        return cls([v.copy() for v in bundle.model.get_weights()], bundle.classes,
                   tree.states() if tree is not None else None,
                   tree.strategy if tree is not None else None)

    def restore(self, bundle: ModelBundle, observer: Observer) -> None:
        """Rebuild the model from its source with the saved weights, flags and classes,
        into the same ``bundle`` object (the window holds it)."""
        observer.on_status("Cancelled: putting the model back as it was…")
        fresh = load_model(bundle.spec, observer)
        fresh.model.set_weights(self.weights)
        fresh.classes = self.classes
        if self.states is not None:
            fresh.tree = LayerTree.from_bundle(fresh)
            fresh.tree.set_states(self.states)
            fresh.tree.strategy = self.strategy
        for f in dataclasses.fields(bundle):
            setattr(bundle, f.name, getattr(fresh, f.name))


def peft_strategy_of(bundle: ModelBundle) -> str | None:
    """"lora", "qlora" or None: what ``prepare_model`` must redo to rebuild this model."""
    state = bundle.peft()
    if state["lora_rank"] is None:
        return None
    return "qlora" if state["quantized"] else "lora"
