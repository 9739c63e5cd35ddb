"""The import structure of the packages: layers point one way, as docs/architecture.md draws them.

Imports are read from the source (ast), module-level and function-level alike, so a lazy import
inside a function counts too: the rule is about what a module may know, not when it loads it.
"""

from __future__ import annotations

import ast
import re
from functools import lru_cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("flowkit", "tsn", "cli")  # lower first: a package imports only itself and those before it
# Units inside the libraries by layer, lower first. A module belongs to the longest unit that prefixes
# its name; it may import units of its own layer or lower ones, never higher; the unit graph has no cycle.
UNIT_LAYERS = (
    ("flowkit", "flowkit.sizes", "flowkit.color", "flowkit.quantize", "flowkit.viz", "flowkit.limits",
     "flowkit.resample", "flowkit.frame_folders", "flowkit.errors"),
    ("flowkit.flow", "flowkit.store", "flowkit.video", "flowkit.synth"),
    ("flowkit.warp", "flowkit.flow.synthetic", "flowkit.testing"),
    ("flowkit.extract", "flowkit.rawframes", "flowkit.flow.pair"),
    ("tsn", "tsn.choices", "tsn.metrics", "tsn.plots", "tsn.runtime", "tsn.recipe"),
    ("tsn.data", "tsn.models"),
    ("tsn.checkpoint", "tsn.scores", "tsn.config"),
    ("tsn.train", "tsn.evaluate", "tsn.fuse"),
    ("tsn.demo",),
)
DRAWING = REPO / "docs" / "architecture.md"


def _modules(package: str) -> list[Path]:
    return sorted((REPO / package).rglob("*.py"))


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Absolute names that `path` imports (relative imports resolved; `from a import b` gives a and a.b)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            prefix = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            names.add(prefix)
            names.update(f"{prefix}.{alias.name}" for alias in node.names)
    return names


def _is_module(name: str) -> bool:
    path = REPO.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _rank(unit: str) -> int:
    return next(rank for rank, units in enumerate(UNIT_LAYERS) if unit in units)


def _unit(name: str) -> str | None:
    """The unit of module `name` (longest prefix in UNIT_LAYERS), None outside the libraries."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if any(candidate in units for units in UNIT_LAYERS):
            return candidate
    return None


@lru_cache(maxsize=None)
def unit_edges() -> frozenset[tuple[str, str, str]]:
    """(importing unit, imported unit, importing file) for every import between library units."""
    edges = set()
    for package in ("flowkit", "tsn"):
        for path in _modules(package):
            own = _unit(_module_name(path))
            for name in _imports(path):
                target = _unit(name)
                # `from flowkit.flow import tvl1` names an attribute, not a module: count the package.
                while target and not _is_module(name) and "." in name:
                    name = name.rpartition(".")[0]
                    target = _unit(name)
                if target and target != own:
                    edges.add((own, target, str(path.relative_to(REPO))))
    return frozenset(edges)


@pytest.mark.parametrize("package", PACKAGES + ("benchmarks",))
def test_packages_import_only_lower_packages(package):
    allowed = set(PACKAGES[: PACKAGES.index(package) + 1]) if package in PACKAGES else {"flowkit", "tsn"}
    upward = [f"{path.relative_to(REPO)} imports {name}" for path in _modules(package) for name in _imports(path)
              if name.split(".")[0] in PACKAGES + ("tests", "benchmarks") and name.split(".")[0] not in allowed
              and name.split(".")[0] != package]
    assert not upward, "imports pointing up:\n" + "\n".join(upward)


def test_benchmarks_do_not_put_tests_on_the_path():
    offenders = [str(p.relative_to(REPO)) for p in _modules("benchmarks") if "sys.path" in p.read_text()]
    assert not offenders, offenders


def test_every_library_module_has_a_unit():
    orphans = [_module_name(p) for package in ("flowkit", "tsn") for p in _modules(package)
               if _unit(_module_name(p)) is None]
    assert not orphans, f"add these to UNIT_LAYERS and docs/architecture.md: {orphans}"


def test_units_import_only_their_layer_or_lower():
    upward = [f"{where}: {own} (layer {_rank(own)}) imports {target} (layer {_rank(target)})"
              for own, target, where in sorted(unit_edges()) if _rank(target) > _rank(own)]
    assert not upward, "imports pointing up:\n" + "\n".join(upward)


def test_unit_graph_has_no_cycle():
    graph: dict[str, set[str]] = {}
    for own, target, _ in unit_edges():
        graph.setdefault(own, set()).add(target)
    state: dict[str, int] = {}

    def visit(unit: str, trail: list[str]) -> None:
        state[unit] = 1
        for nxt in sorted(graph.get(unit, ())):
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join(trail + [unit, nxt]))
            if not state.get(nxt):
                visit(nxt, trail + [unit])
        state[unit] = 2

    for unit in sorted(graph):
        if not state.get(unit):
            visit(unit, [])


def test_the_drawing_shows_every_import_between_units():
    drawn = set(re.findall(r"^\s*(\S+)\s*-->\s*(\S+)\s*$", DRAWING.read_text(), re.MULTILINE))
    actual = {(own.replace(".", "_"), target.replace(".", "_")) for own, target, _ in unit_edges()}
    assert actual <= drawn, f"docs/architecture.md lacks the arrows {sorted(actual - drawn)}"
    assert drawn <= actual, f"docs/architecture.md draws arrows no import makes: {sorted(drawn - actual)}"


BEGIN, END = "<!-- imports:begin -->", "<!-- imports:end -->"


def drawing() -> str:
    """The import drawing of docs/architecture.md: one mermaid flowchart per library, layers as boxes."""
    edges = sorted({(own, target) for own, target, _ in unit_edges()})
    blocks = []
    for package in ("flowkit", "tsn"):
        mine = [(a, b) for a, b in edges if a.split(".")[0] == package]
        units = {u for edge in mine for u in edge}
        lines = [f"**{package}**", "", "```mermaid", "flowchart TB"]
        for rank in range(len(UNIT_LAYERS) - 1, -1, -1):
            members = [u for u in UNIT_LAYERS[rank] if u in units]
            if members:
                lines.append(f'  subgraph L{rank}["layer {rank}"]')
                lines += [f'    {u.replace(".", "_")}["{u}"]' for u in members]
                lines.append("  end")
        lines += [f'    {a.replace(".", "_")} --> {b.replace(".", "_")}' for a, b in mine]
        blocks.append("\n".join(lines + ["```"]))
    return "\n\n".join(blocks)


if __name__ == "__main__":  # python tests/test_architecture.py: redraw docs/architecture.md's imports
    text = DRAWING.read_text()
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    DRAWING.write_text(f"{head}{BEGIN}\n{drawing()}\n{END}{tail}")
    print(f"redrew {DRAWING}")
