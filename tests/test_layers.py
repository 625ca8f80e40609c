"""The layers of the package, enforced: each room imports only rooms below it, and no module
imports itself back through others.

Every ``import`` is read with :mod:`ast`, function-local ones included (a local import may put
off a slow import until it is needed; it must not hide a cycle). docs/architecture.md draws
the same layers.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "napari_unet"
P = "napari_unet"

LAYERS = [
    # the shells: the docks, the command line, napari's sample data
    {"_widgets", "cli", "_sample_data"},
    # the Python API (`napari_unet.train` / `load` / `Model`)
    {"api"},
    # the core's rooms, highest first
    {"core.training", "core.batch"},
    {"core.inference", "core.export"},  # both use the deployable network (core.networks)
    {"core.files"},
    {"core.networks"},
    # the ground floor: core/*.py, the version, synthetic images (numpy only)
    {"ground"},
]
"""Rooms from the top down. A module may import its own room and the rooms of lower layers;
rooms of one layer do not import each other."""

CORE_ROOMS = ("training", "batch", "inference", "export", "files", "networks")
CLI = {"cli", "cli_checks", "cli_notes"}
API = {"", "api"}  # the package's __init__ hands out the API lazily
GROUND = {"_version", "synthetic"}


def room(module: str) -> str:
    """The room of ``module`` (a dotted name: ``napari_unet.core.files.bundle``)."""
    parts = module.split(".")[1:]
    if parts[:1] == ["core"]:
        return f"core.{parts[1]}" if len(parts) > 1 and parts[1] in CORE_ROOMS else "ground"
    top = parts[0] if parts else ""
    if top in CLI:
        return "cli"
    if top in API:
        return "api"
    if top in GROUND:
        return "ground"
    return top


def layer(r: str) -> int:
    return next(i for i, rooms in enumerate(LAYERS) if r in rooms)


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ["napari_unet", *path.relative_to(PACKAGE).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _target(name: str) -> str | None:
    """The module of ours that ``name`` (absolute, dotted) imports, or None."""
    if name != "napari_unet" and not name.startswith("napari_unet."):
        return None
    while name not in MODULES:
        name = name.rsplit(".", 1)[0]
    return name


def imports_of(module: str) -> set[str]:
    """Every module of ours that ``module`` imports, anywhere in its body."""
    path = MODULES[module]
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1] if node.level > 1 else package
                base = ".".join([*base, *([node.module] if node.module else [])])
            else:
                base = node.module
            names = [f"{base}.{a.name}" for a in node.names]  # a submodule, or a name in base
        for name in names:
            target = _target(name)
            if target is not None and target != module:
                found.add(target)
    return found


GRAPH = {m: imports_of(m) for m in MODULES}


def test_the_layers_name_every_room():
    rooms = {room(m) for m in MODULES}
    assert rooms == set().union(*LAYERS), "a new room needs its place in LAYERS"
    assert len(MODULES) > 100 and GRAPH[f"{P}.core.training.train"]  # the imports were read


@pytest.mark.parametrize("module", sorted(MODULES))
def test_each_module_imports_only_its_own_room_and_rooms_below(module):
    mine = room(module)
    wrong = sorted(t for t in GRAPH[module]
                   if room(t) != mine and layer(room(t)) <= layer(mine))
    assert not wrong, f"{module} ({mine}) imports {wrong}, which are not below it"


def test_no_module_imports_itself_back_through_others():
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v):  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
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
                cycles.append(sorted(component))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    assert not cycles, f"modules that import each other: {cycles}"


GUI = {"napari", "qtpy", "magicgui", "PyQt5", "PyQt6", "PySide2", "PySide6", "vispy"}


def _outside_imports(module: str) -> set[str]:
    """The top-level names of the packages not ours that ``module`` imports, anywhere."""
    found = set()
    for node in ast.walk(ast.parse(MODULES[module].read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level:
            found.add(node.module.split(".")[0])
    return found - {P}


@pytest.mark.parametrize("module", sorted(m for m in MODULES if room(m) not in {"_widgets", "_sample_data"}))
def test_only_the_docks_and_the_sample_data_import_napari_or_qt(module):
    """The core, the API and the command line never import napari, Qt or magicgui, not even
    inside a function (a CLI run or a notebook must not need them)."""
    assert not _outside_imports(module) & GUI


def test_the_check_sees_a_function_local_import_and_a_relative_one():
    """The check itself: an import inside a function counts, and `from ..x import y` is
    resolved to the module it names."""
    start = GRAPH[f"{P}.core.training.start"]
    assert f"{P}.core.files.starters" in start  # at the top, relative
    assert f"{P}.core.training.targets" in start  # inside a function
    assert f"{P}.core.training.start" in GRAPH[f"{P}.api"]  # inside a function, absolute
    assert f"{P}.api" in GRAPH[P]  # the package's lazy API, from its __init__
    assert f"{P}.cli_checks" in GRAPH[f"{P}.cli"] and f"{P}.cli" not in GRAPH[f"{P}.cli_checks"]


DOCK_GROUPS = {"common": set(), "train": {"common"}, "predict": {"common"}}
"""The docks' sub-packages and the ones each may import besides its own: what both docks use
is in ``common``, which imports neither dock."""


def _dock_group(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if len(parts) > 3 and parts[1] == "_widgets" else None


def test_the_docks_share_only_common():
    groups = {g for g in map(_dock_group, MODULES) if g}
    assert groups == set(DOCK_GROUPS), "a new _widgets sub-package needs its place here"
    loose = [m for m in MODULES if m.count(".") == 2 and m.startswith(f"{P}._widgets.")
             and m.rsplit(".", 1)[1] not in DOCK_GROUPS]
    assert not loose, f"every dock module lives in train/, predict/ or common/: {loose}"
    wrong = sorted((m, t) for m in MODULES if _dock_group(m) for t in GRAPH[m]
                   if _dock_group(t) and _dock_group(t) != _dock_group(m)
                   and _dock_group(t) not in DOCK_GROUPS[_dock_group(m)])
    assert not wrong, f"dock modules importing the other dock's: {wrong}"
