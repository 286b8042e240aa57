"""``python -m desktop_ft.cli`` — the same as the ``desktop-ft`` command."""

from desktop_ft.cli import main

raise SystemExit(main())
