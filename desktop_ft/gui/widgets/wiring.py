"""Signal wiring as a table: a panel's ``bind`` lists (signal, slot) pairs."""

from __future__ import annotations


def connect_all(*pairs) -> None:
    """``signal.connect(slot)`` for each ``(signal, slot)``. Slots should be ``@Slot``
    methods of objects living in the GUI thread (a lambda connected to a worker's signal
    would run in the worker's thread)."""
    for signal, slot in pairs:
        signal.connect(slot)
