"""The subcommands: each turns parsed arguments into calls on ``desktop_ft.core``.

They live by concern: :mod:`~desktop_ft.cli.train_commands` (train, export,
label-issues, lr-find),
:mod:`~desktop_ft.cli.inspect_commands` (models, layers, scan, evaluate, predict,
explain), :mod:`~desktop_ft.cli.runs_command` (runs)."""

from __future__ import annotations

from desktop_ft.cli.inspect_commands import (cmd_evaluate, cmd_explain, cmd_layers,
                                             cmd_models, cmd_predict, cmd_scan)
from desktop_ft.cli.runs_command import cmd_runs
from desktop_ft.cli.train_commands import cmd_export, cmd_label_issues, cmd_lr_find, cmd_train

COMMANDS = {"models": cmd_models, "layers": cmd_layers, "scan": cmd_scan, "train": cmd_train,
            "export": cmd_export, "runs": cmd_runs, "evaluate": cmd_evaluate,
            "predict": cmd_predict, "explain": cmd_explain, "label-issues": cmd_label_issues,
            "lr-find": cmd_lr_find}
