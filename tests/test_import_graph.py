"""The house rules on imports, for the whole package: no module imports another that (through
any chain) imports it back, and no module imports another module's private helpers.

Why every import counts, not only the module-level ones: an import inside a function or under
``TYPE_CHECKING`` still couples the two modules, and a cycle hidden that way returns as an
``ImportError`` the day someone moves the import up. ``test_cli_commands.py`` and
``test_lint_rules.py`` guard the CLI's and the rule families' own layering; this is the floor
under both, and issue 15's "no circles" for the pack package (pack and pack_base used to
import each other).
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted((SRC / "scratchpack").rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, str | None]]:
    """(module, imported name or None) for every import of ``path``, wherever it is."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[str, str | None]] = []
    for node in ast.walk(ast.parse(path.read_bytes())):
        if isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*up, base] if base else up)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.append((submodule, None) if submodule in modules else (base, alias.name))
    return [(module, what) for module, what in found if module in modules]


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {
        name: {module for module, _ in _imports(name, path, modules)} - {name}
        for name, path in modules.items()
    }


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, targets = work[-1]
            target = next(targets, None)
            if target is not None:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph[target]))))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return components


def test_no_module_imports_itself_back_through_any_chain() -> None:
    graph = _graph()
    assert len(graph) > 150  # the whole package was read
    # the check sees the edges there are, lazy and TYPE_CHECKING ones included
    assert "scratchpack.operations.pack.binary" in graph["scratchpack.operations.pack"]
    assert "scratchpack.operations.pack.libraries" in graph["scratchpack.operations.pack.core"]
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_a_private_name_of_another() -> None:
    modules = _modules()
    found = [
        f"{name} imports {what} from {module}"
        for name, path in modules.items()
        for module, what in _imports(name, path, modules)
        if what and what.startswith("_") and not what.startswith("__") and module != name
    ]
    assert found == []
