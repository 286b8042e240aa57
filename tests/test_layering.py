"""The import graph of desktop_ft has no cycles (import-linter's contracts, run by
.ci/run, keep the layers; this finds any cycle at all, function-level imports included)."""

import grimp


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm: the components with more than one module."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    g = grimp.build_graph("desktop_ft")
    graph = {m: {i for i in g.find_modules_directly_imported_by(m) if i.startswith("desktop_ft")}
             for m in g.modules}
    assert strongly_connected(graph) == []


def test_the_cycle_finder_finds_cycles():
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == \
        [["a", "b", "c"]]


def test_only_core_models_names_an_architecture():
    """No code outside ``core/models`` names a network, the ImageNet weights source or a
    default image size (docstrings and the CLI's help examples aside): a new table entry
    must not need edits elsewhere (issue 19)."""
    import ast
    import re
    from pathlib import Path

    from desktop_ft.core.models import ARCHITECTURES

    root = Path(__file__).resolve().parents[1] / "desktop_ft"
    names = re.compile(r"\b(" + "|".join(map(re.escape, ARCHITECTURES)) + r")\b", re.I)
    found = []
    for path in root.rglob("*.py"):
        rel = path.relative_to(root).as_posix()
        if rel.startswith("core/models/") or rel == "cli/parser.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                      if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef,
                                        ast.AsyncFunctionDef))
                      and n.body and isinstance(n.body[0], ast.Expr)
                      and isinstance(n.body[0].value, ast.Constant)}
        for node in ast.walk(tree):
            if not isinstance(node, ast.Constant) or id(node) in docstrings:
                continue
            value = node.value
            if (isinstance(value, str) and (value.lower() == "imagenet" or names.search(value))) \
                    or (type(value) is int and value in (224, 299)):
                found.append(f"{rel}:{node.lineno}: {value!r}")
    assert not found, found


def test_private_upstream_apis_are_used_only_in_compat():
    """Private Keras / keras-hub / TensorFlow modules and private attributes of their
    objects (``x._name``, ``getattr(x, "_name")``) appear only in ``core/compat.py``,
    where each has a test (issue 20)."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "desktop_ft"
    private_module = re.compile(r"\b(keras|keras_hub)\.src\b|\btensorflow\.python\b")
    private_attr = re.compile(r"""(getattr|setattr|hasattr)\([^,()]+,\s*["']_[a-z]|"""
                              r"""\b(?!self\b|cls\b|os\b)[a-z_]\w*\._[a-z]\w*""")
    ours = ("_rate_when_trained", "_drop_prob_when_trained", "_desktop_ft_patch",
            "_choices_of", "_exit")
    found = []
    for path in root.rglob("*.py"):
        rel = path.relative_to(root).as_posix()
        if rel == "core/compat.py":
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#")[0]
            if private_module.search(code) or (private_attr.search(code) and
                                               not any(o in code for o in ours)):
                if not code.strip().startswith(('"', "'", "``")):
                    found.append(f"{rel}:{n}: {line.strip()}")
    assert not found, "\n".join(found)
