"""The layers are a check, not a claim: every import (deferred ones inside functions included) goes
down the layers or stays within one, and no two modules import each other, even indirectly."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "diffviz"
# bottom (0) to top; a module may import from its own layer or below
LAYERS = {
    "utils": 0, "errors": 0, "i18n": 0, "frames": 0, "content": 0,
    "data": 1, "models": 1, "diffusion": 1,
    "training": 2, "metrics": 2,
    "widgets": 3, "export": 3, "commands": 3, "cli": 3, "voila": 3, "servers": 3,
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):  # every import, deferred ones too
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                targets |= {f"{target}.{a.name}" if f"{target}.{a.name}" in modules else target for a in node.names}
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.get(parts[1]) if len(parts) > 1 else None


def test_every_subpackage_has_a_layer():
    unknown = {m.split(".")[1] for m in import_graph() if "." in m and layer(m) is None}
    assert not unknown, f"give these a layer in LAYERS (and docs/ARCHITECTURE.md): {unknown}"


def test_imports_only_go_down():
    upward = [f"{m} (layer {layer(m)}) imports {t} (layer {layer(t)})"
              for m, targets in import_graph().items() for t in targets
              if layer(m) is not None and (t == "diffviz" or (layer(t) or 0) > layer(m))]
    assert not upward, "\n".join(upward)


def test_no_import_cycles():
    graph, index, low, stack, on, cycles = import_graph(), {}, {}, [], set(), []

    def visit(v):  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    assert not cycles, f"modules that import each other: {cycles}"


def documented_layers(doc: Path) -> dict[int, list[str]]:
    """The layer picture of a document: {layer: package names}, from the ```text block after '<!-- layers'."""
    import re

    text = doc.read_text(encoding="utf-8")
    assert "<!-- layers" in text, f"{doc.name} has no layer picture"
    block = text.split("<!-- layers", 1)[1].split("```text", 1)[1].split("```", 1)[0]
    found = {}
    for line in block.strip().splitlines():
        m = re.match(r"\s*layer (\d+)\s+(.+?)\s{2,}\S", line)
        assert m, f"{doc.name}: unreadable layer line {line!r}"
        found[int(m.group(1))] = m.group(2).split()
    return found


def test_docs_draw_the_layers_of_this_table():
    """README.md and docs/ARCHITECTURE.md show one picture, and it is this test's table (plus the .ipynb layer)."""
    root = PACKAGE.parent
    readme, architecture = documented_layers(root / "README.md"), documented_layers(root / "docs" / "ARCHITECTURE.md")
    assert readme == architecture, "README.md and docs/ARCHITECTURE.md draw the layers differently"
    table = {}
    for name, level in LAYERS.items():
        table.setdefault(level, []).append(name)
    top = max(table) + 1
    assert {k: sorted(v) for k, v in readme.items() if k != top} == {k: sorted(v) for k, v in table.items()}
    assert readme[top] == ["notebooks", "dashboards"] and all((root / p).is_dir() for p in readme[top])


def test_the_source_tree_has_the_top_level_the_user_asked_for():
    """pyproject.toml, diffviz/, notebooks/, dashboards/, tests/, README.md at the root; the chapters and
    dashboards live only there (the wheel gets them through package-dir: tests/test_package.py)."""
    root = PACKAGE.parent
    for name in ("pyproject.toml", "README.md"):
        assert (root / name).is_file(), name
    for name in ("diffviz", "notebooks", "dashboards", "tests"):
        assert (root / name).is_dir(), name
    assert any((root / "notebooks").glob("*.ipynb")) and any((root / "notebooks" / "zh").glob("*.ipynb"))
    assert any((root / "dashboards").glob("*.ipynb")) and (root / "dashboards" / "voila.json").is_file()
    inside = list(PACKAGE.glob("notebooks/**/*.ipynb")) + list(PACKAGE.glob("dashboards/*"))
    assert not inside, f"a second copy of the chapters or dashboards inside diffviz/: {inside[:3]}"
