"""Architecture rules: imports flow one way (no cycles, the core imports no plugin) and every
component a shipped config names is found from its name in one step."""

import ast
import re
from pathlib import Path

import pytest
import yaml

from ganedit.cli import main
from ganedit.registry import Registry

REPO = Path(__file__).resolve().parents[1]
PACKAGES = {"ganedit": REPO / "ganedit"}
PACKAGES.update({p.name: p for p in sorted(REPO.glob("plugins/*/ganedit_*")) if p.is_dir()})
PACKAGES.update({p.name: p for p in sorted(REPO.glob("examples/*/ganedit_*")) if p.is_dir()})


def module_files() -> dict[str, Path]:
    out = {}
    for root in PACKAGES.values():
        for f in root.rglob("*.py"):
            parts = list(f.relative_to(root.parent).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = f
    return out


def _type_checking_only(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """Inside ``if TYPE_CHECKING:`` (not imported at run time)."""
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def import_graph() -> dict[str, set[str]]:
    """Module -> modules of these packages it imports, counting every import statement (module
    level and inside functions: a lazy import is still a dependency)."""
    files = module_files()

    def resolve(name: str) -> str | None:
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {m: set() for m in files}
    for mod, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        package = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)) or _type_checking_only(node, parents):
                continue
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                base = node.module or ""
                if node.level:
                    base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names]
            for target in targets:
                found = resolve(target)
                if found and found != mod:
                    graph[mod].add(found)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
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
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles_in_any_package():
    graph = import_graph()
    assert len(PACKAGES) >= 8 and len(graph) > 100  # the core, six plugins, the example
    assert cycles(graph) == []


def test_packages_depend_one_way():
    """The core imports no plugin; plugins may build on each other (TCP on SwapAE, encoders on
    StyleGAN2), but never in a circle."""
    graph = import_graph()
    edges = {(a.split(".")[0], b.split(".")[0]) for a, targets in graph.items() for b in targets}
    between = {(a, b) for a, b in edges if a != b}
    assert not [e for e in between if e[0] == "ganedit"], sorted(between)
    packages = {p: {b for a, b in between if a == p} for p in PACKAGES}
    assert cycles(packages) == []


def test_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def _names(node, out: set[tuple[str, str]]) -> set[tuple[str, str]]:
    if isinstance(node, dict):
        if isinstance(node.get("type"), str):
            out.add(("component", node["type"]))
        for value in node.values():
            _names(value, out)
    elif isinstance(node, list):
        for value in node:
            _names(value, out)
    return out


CONFIGS = sorted((REPO / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_config_names_lead_to_their_class_in_one_step(path, capsys):
    """``grep -rn 'name="NAME"'`` finds the class of every ``type:`` / ``task:`` of a shipped
    config, and ``ganedit describe NAME`` prints that file and line."""
    registry = Registry(strict=True).load_entry_points()
    raw = yaml.safe_load(path.read_text())
    names = _names(raw, set()) | {("task", raw["task"])}
    for _, name in sorted(names):
        entries = registry.find(name)
        assert entries, name
        for entry in entries:
            file, line = entry.location.rsplit(":", 1)
            source = (REPO / file if not Path(file).is_absolute() else Path(file)).read_text().splitlines()
            assert re.search(rf'\bname="{re.escape(name)}"', source[int(line) - 1]), (name, entry.location)
        assert main(["describe", name]) == 0
        out = capsys.readouterr().out
        assert all(f"defined at {e.location}" in out for e in entries), out
