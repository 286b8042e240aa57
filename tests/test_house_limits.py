"""The house's size limits keep holding (issue 35): no function in desktop_ft over 80 lines
(the CLI argument parser's table aside), none with more than 8 parameters (self and cls not
counted), no module base name used three or more times, no file over 430 lines."""

import ast
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "desktop_ft"

MAX_FUNCTION_LINES = 80
MAX_PARAMETERS = 8
MAX_FILE_LINES = 430
MAX_NAME_USES = 2
# A table of argparse calls, one line per option: long by nature, read as data.
LONG_BY_NATURE = {"build_parser"}
SHARED_NAMES = {"__init__.py", "__main__.py"}


def parameter_count(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Every parameter, *args and **kwargs included, less a leading self or cls."""
    a = node.args
    names = [p.arg for p in (*a.posonlyargs, *a.args)]
    count = len(names) + len(a.kwonlyargs) + (a.vararg is not None) + (a.kwarg is not None)
    if names and names[0] in ("self", "cls"):
        count -= 1
    return count


def function_violations(source: str, where: str = "<source>") -> list[str]:
    """Functions (methods, nested ones, lambdas aside) over the line or parameter limit.
    A function's lines run from its ``def`` to its last line, decorators not counted."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        lines = node.end_lineno - node.lineno + 1
        if lines > MAX_FUNCTION_LINES and node.name not in LONG_BY_NATURE:
            found.append(f"{where}:{node.lineno}: {node.name} has {lines} lines")
        params = parameter_count(node)
        if params > MAX_PARAMETERS:
            found.append(f"{where}:{node.lineno}: {node.name} has {params} parameters")
    return found


def repeated_names(paths: list[Path]) -> dict[str, int]:
    """Module base names used more than MAX_NAME_USES times (package __init__ aside)."""
    counts = Counter(p.name for p in paths if p.name not in SHARED_NAMES)
    return {name: n for name, n in sorted(counts.items()) if n > MAX_NAME_USES}


def modules() -> list[Path]:
    return sorted(ROOT.rglob("*.py"))


def test_no_long_function_or_long_parameter_list():
    found = []
    for path in modules():
        rel = path.relative_to(ROOT.parent).as_posix()
        found += function_violations(path.read_text(encoding="utf-8"), rel)
    assert not found, "\n".join(found)


def test_no_module_name_three_times():
    repeated = repeated_names(modules())
    assert not repeated, repeated


def test_no_long_file():
    found = []
    for path in modules():
        n = len(path.read_text(encoding="utf-8").splitlines())
        if n > MAX_FILE_LINES:
            found.append(f"{path.relative_to(ROOT.parent).as_posix()}: {n} lines")
    assert not found, "\n".join(found)


def test_the_checker_finds_what_breaks_the_limits():
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    source = (f"def long():\n{body}\n"
              f"def short():\n    pass\n"
              f"def build_parser():\n{body}\n"
              f"class C:\n"
              f"    def method(self, a, b, c, d, e, f, g, h):\n        pass\n"
              f"    def wide(self, a, b, c, d, e, f, g, *h, i):\n        pass\n"
              f"    @classmethod\n"
              f"    def wider(cls, a, b, c, d, e, f, g, h, **i):\n        pass\n")
    found = [v.split(": ", 1)[1] for v in function_violations(source)]
    assert found == [f"long has {MAX_FUNCTION_LINES + 1} lines", "wide has 9 parameters",
                     "wider has 9 parameters"], found
    paths = [Path(p) for p in ("a/peft.py", "b/peft.py", "c/peft.py", "a/job.py", "b/job.py",
                               "a/__init__.py", "b/__init__.py", "c/__init__.py")]
    assert repeated_names(paths) == {"peft.py": 3}
