"""The layout by stage holds: the portable core stays portable, the monitors library stays a
library, imports form no cycle, and Faust's private producer is reached in one place."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(package: str) -> dict[str, Path]:
    return {module_name(p): p for p in sorted((ROOT / package).rglob("*.py"))}


def imports(path: Path, top_level_only: bool = False) -> set[str]:
    """Absolute names of the modules a file imports (``from a import b`` counts ``a`` and ``a.b``)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return found


def test_the_portable_core_imports_only_the_standard_library_river_and_itself():
    allowed_stream = set(modules("stream/model")) | {"stream.errors"}
    for name, path in modules("stream/model").items():
        for imported in imports(path):
            top = imported.partition(".")[0]
            if top == "stream":
                assert imported in allowed_stream or imported.rpartition(".")[0] in allowed_stream, (name, imported)
            else:
                assert top in sys.stdlib_module_names or top == "river", f"{name} imports {imported}"


#: What each package of stream/ may import of the others (and of ``monitors``), as its docstring says:
#: the data flow's direction. ``settings``, ``errors``, ``metrics``, ``progress`` and ``orphans`` are shared by all.
MAY_IMPORT = {
    "model": set(),
    "wire": {"model"},
    "transport": {"model", "wire"},
    "registry": {"model"},
    "training": {"model", "monitors"},
    "batch": {"model"},
    "serving": {"model", "wire", "transport", "registry", "training", "monitors"},
    "learning": {"model", "wire", "transport", "registry", "serving", "monitors"},
    "monitoring": {"model", "wire", "transport", "registry", "serving", "training", "monitors"},
    "deployment": {"model", "wire", "transport", "registry", "training", "learning", "monitors"},
    "alerts": {"model", "wire", "transport", "registry"},
    "web": {"model", "wire", "transport", "registry", "training", "serving", "learning", "monitoring", "deployment", "alerts"},
    "dev": {"model", "transport", "registry", "training", "alerts"},
}


def test_each_package_imports_only_what_comes_before_it_in_the_data_flow():
    for package, allowed in MAY_IMPORT.items():
        for name, path in modules(f"stream/{package}").items():
            for imported in imports(path):
                parts = imported.split(".")
                other = parts[1] if parts[0] == "stream" and len(parts) > 1 else parts[0] if parts[0] == "monitors" else None
                if other is None or other in (package, "settings", "errors", "metrics", "progress", "orphans"):
                    continue
                assert other in allowed, f"{name} imports {imported}: {package} may import only {sorted(allowed)}"


def test_the_monitors_library_imports_nothing_from_stream():
    for name, path in modules("monitors").items():
        assert not any(i.partition(".")[0] == "stream" for i in imports(path)), name


def test_module_level_imports_form_no_cycle():
    known = {**modules("stream"), **modules("monitors")}
    graph = {name: {i for i in imports(path, top_level_only=True) if i in known and i != name} for name, path in known.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for nxt in sorted(graph[name]):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt):] + [nxt] if nxt in path else [name, nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def test_every_stream_package_says_what_it_is_for():
    for init in sorted((ROOT / "stream").rglob("__init__.py")):
        assert ast.get_docstring(ast.parse(init.read_text())), f"{init.relative_to(ROOT)} has no docstring"


def test_fausts_private_producer_is_reached_in_one_place():
    users = [p.relative_to(ROOT).as_posix() for p in (ROOT / "stream").rglob("*.py") if "_ensure_producer" in p.read_text()]
    assert users == ["stream/transport/producer.py"]
