"""The layout a newcomer relies on: imports go one way (setup.cfg's import-linter contracts,
run by scripts/test.sh), no module reaches back into one that imports it, and an import tucked
inside a function says why."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import grimp

PACKAGE = Path(__file__).resolve().parent.parent / "thredfi_django"


def own_modules(graph) -> list[str]:
    return sorted(m for m in graph.modules if not m.startswith("thredfi_django.testing"))


def test_no_module_imports_one_that_imports_it_back():
    # Imports inside functions count; those only a type checker reads do not.
    graph = grimp.build_graph("thredfi_django", exclude_type_checking_imports=True)
    modules = own_modules(graph)
    cycles = []
    for module in modules:
        for imported in graph.find_modules_directly_imported_by(module):
            if imported in modules and imported != module and imported != "thredfi_django":
                back = graph.find_shortest_chain(importer=imported, imported=module)
                if back:
                    cycles.append(" -> ".join((module, *back)))
    assert cycles == []


def function_level_imports(path: Path) -> list[tuple[int, str]]:
    """(line, source line) of every import inside a function, class body or TYPE_CHECKING."""
    source = path.read_text()
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for inner in ast.walk(node):
                if isinstance(inner, (ast.Import, ast.ImportFrom)):
                    found.append((inner.lineno, lines[inner.lineno - 1]))
    return found


def imports_our_package(line: str) -> bool:
    text = line.strip()
    return text.startswith("from .") or "thredfi_django" in text


def test_an_import_inside_a_function_says_why():
    unexplained = []
    for path in PACKAGE.rglob("*.py"):
        if "testing" in path.parts:
            continue
        lines = path.read_text().splitlines()
        for lineno, line in function_level_imports(path):
            if not imports_our_package(line):
                continue
            before = lines[lineno - 2].strip() if lineno > 1 else ""
            if "#" not in line and not before.startswith("#"):
                unexplained.append(f"{path.relative_to(PACKAGE.parent)}:{lineno}: {line.strip()}")
    assert unexplained == []


def test_the_http_client_imports_no_database_code():
    offending = []
    for path in (PACKAGE / "client").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offending += [
                f"{path.name}: {name}"
                for name, banned in itertools.product(names, ("django.db", "django.contrib"))
                if name == banned or name.startswith(banned + ".")
            ]
    assert offending == []
