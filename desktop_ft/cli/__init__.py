"""``desktop-ft``: the command line over ``desktop_ft.core`` — the same code paths as the
window. No subcommand starts the desktop app. Errors print one line (no traceback unless
``--debug``) and exit non-zero."""

from __future__ import annotations

import sys

from desktop_ft.cli.parser import build_parser
from desktop_ft.cli.printing import PrintingObserver

__all__ = ["PrintingObserver", "build_parser", "main"]


def main(argv: list[str] | None = None) -> int:
    from desktop_ft.core.runtime import quiet_tensorflow

    quiet_tensorflow()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        from desktop_ft.gui.app import run_app

        return run_app()
    from desktop_ft.cli.commands import COMMANDS
    from desktop_ft.core import interrupts
    from desktop_ft.core.errors import UserError

    previous = interrupts.install(_terminate)
    try:
        from desktop_ft.core import backend

        problem = backend.unsupported(getattr(args, "distributed", False),
                                      backend.select(getattr(args, "backend", None)))
        if problem:
            raise UserError(problem)
        if args.command != "scan" and not getattr(args, "distributed", False):
            # (A multi-worker strategy must be created before TensorFlow initialises.)
            from desktop_ft.core.runtime import configure

            configure()
        return COMMANDS[args.command](args)
    except KeyboardInterrupt as e:    # a second Ctrl-C, or SIGTERM / SIGHUP
        return _aborted(e)
    except Exception as e:
        if interrupts.terminating():
            # A termination that arrived inside native code can surface there as another
            # error (seen: "SystemError: … bad argument to internal function" after a
            # second Ctrl+C): it is still that termination.
            return _aborted(e)
        if args.debug:
            raise
        if isinstance(e, UserError):
            print(f"desktop-ft: error: {e}", file=sys.stderr)
            return 1
        # anything unexpected: one line, --debug for the traceback
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        print(f"desktop-ft: error: {type(e).__name__}: {first} (run with --debug for the "
              "traceback)", file=sys.stderr)
        return 1
    finally:      # main() called in-process (tests, scripts) leaves the caller's handlers
        interrupts.restore(previous)


def _aborted(e: BaseException) -> int:
    """One line for a command aborted by a second Ctrl-C, SIGTERM or SIGHUP; its status."""
    from desktop_ft.core import interrupts

    why = str(e) if isinstance(e, interrupts.Terminated) else "interrupted"
    print(f"desktop-ft: {why}; a training run can be continued with `desktop-ft train "
          "--resume RUN_DIR` (`desktop-ft runs` lists them)", file=sys.stderr)
    code = getattr(e, "exit_code", None) or interrupts.termination_code() or 130
    interrupts.exit_if_terminating(code)      # (not when main() is called in-process)
    return code


def _terminate(signum: int) -> None:
    """SIGTERM / SIGHUP: abort the command now (checkpoints and exports are swapped in
    atomically, so nothing is half-written), and end the process within the deadline even
    if the main thread is inside an operation that cannot be interrupted."""
    from desktop_ft.core import interrupts

    interrupts.begin_termination(128 + signum)
    raise interrupts.Terminated(signum)
