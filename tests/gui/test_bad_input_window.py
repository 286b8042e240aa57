"""The bad-input corpus in the window: data dropped on it and project files opened show
the same one clear message in the banner as the CLI's line, and the window stays usable."""

from tests.core.test_bad_input import CASES, REFUSE
from tests.gui.conftest import LONG, drop_path

# The corpus cases a window user can cause: dropping data, opening a project.
WINDOW_CASES = [c for c in CASES if c[3][0] == REFUSE and c[2][0] in ("scan", "train")
                and (c[2][0] == "scan" or "--project" in c[2])]


def test_the_window_covers_the_data_and_project_refusals():
    assert len(WINDOW_CASES) >= 10


def test_window_banner(window, tmp_path, qtbot, capsys):
    """Every case in one window, one after the other, as a user would meet them (one
    window: PySide6 6.12 is fragile when many windows are made and destroyed)."""
    from desktop_ft.cli import main

    c = window.controller
    for n, (name, setup, argv, (_, expected)) in enumerate(WINDOW_CASES):
        folder = tmp_path / str(n)
        folder.mkdir()
        values = {"tmp": folder, **setup(folder)}
        argv = [a.format(**values) for a in argv]
        assert main(argv) == 1, name
        cli_line = capsys.readouterr().err.strip().removeprefix("desktop-ft: error: ")
        window.banner.hide_error()
        if "--project" in argv:
            c.open_project(argv[argv.index("--project") + 1])
        else:
            drop_path(window, argv[1])
        qtbot.waitUntil(lambda: window.banner.isVisible() and c.tasks.running() == 0,
                        timeout=LONG)
        shown = window.banner.text()
        assert expected in shown, (name, shown)
        # The CLI's sentence, unless the window names its own controls instead of flags.
        if "--" not in cli_line:
            assert shown.startswith(cli_line.split(".")[0]), (name, shown, cli_line)
        assert "Traceback" not in shown, name
        assert window.isEnabled() and window.model_panel.load_button.isEnabled(), name
