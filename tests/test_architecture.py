"""The package's folders tell its architecture, and imports follow it: no import runs from a lower
layer to a higher one, and no import circle. Read from the source (ast), all imports counted,
also those inside functions (a deferred import is still a dependency)."""
from __future__ import annotations

import ast
import os

import pytest

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "provision")

# Lowest first. An area may import its own layer and the layers below, never above.
LAYERS: list[tuple[str, ...]] = [
    ("errors", "shell", "booleans", "limits", "vault"),  # plain helpers, no domain
    ("yamlsource", "ansible_cfg", "filters", "jinja_sandbox", "variables", "templating", "gpu"),  # input reading, GPU facts
    ("transport", "facts", "hostpatterns", "ini_inventory", "inventory"),  # reaching hosts; what the inventory says
    ("modules",),  # one unit each: read, compare, apply
    ("playbook",),  # loading and validating playbooks and roles
    ("runner",),  # running plays over hosts
    ("history", "report", "verify"),  # what a run leaves: records, reports, proofs
    ("sandbox", "onboard"),  # test hosts; bringing a server in
    ("commands", "cli"),  # the command line
]
LAYER = {area: number for number, areas in enumerate(LAYERS) for area in areas}


def _module_name(path: str) -> str:
    relative = os.path.relpath(path, os.path.dirname(PACKAGE))[:-3].replace(os.sep, ".")
    return relative.removesuffix(".__init__")


def _is_module(name: str) -> bool:
    path = os.path.join(os.path.dirname(PACKAGE), *name.split("."))
    return os.path.isfile(path + ".py") or os.path.isfile(os.path.join(path, "__init__.py"))


def _imports(top_level_only: bool) -> dict[str, set[str]]:
    """module -> provision modules it imports (`from pkg import submodule` counts as the submodule)."""
    graph: dict[str, set[str]] = {}
    for folder, _, files in os.walk(PACKAGE):
        for file in files:
            if not file.endswith(".py"):
                continue
            path = os.path.join(folder, file)
            with open(path, encoding="utf-8") as handle:
                tree = ast.parse(handle.read())
            nodes = tree.body if top_level_only else list(ast.walk(tree))
            found: set[str] = set()
            for node in nodes:
                if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("provision"):
                    for alias in node.names:
                        submodule = f"{node.module}.{alias.name}"
                        found.add(submodule if _is_module(submodule) else node.module)
                elif isinstance(node, ast.Import):
                    found |= {alias.name for alias in node.names if alias.name.startswith("provision")}
            graph[_module_name(path)] = found
    return graph


def _area(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "provision"


def test_every_area_has_a_layer():
    areas = {_area(module) for module in _imports(top_level_only=True)} - {"provision"}
    assert areas - set(LAYER) == set(), "a new folder or top-level file needs its place in LAYERS"


def test_no_import_runs_from_a_lower_layer_to_a_higher_one():
    upward = sorted(f"{module} ({_area(module)}) imports {target} ({_area(target)})"
                    for module, targets in _imports(top_level_only=False).items() for target in targets
                    if _area(module) in LAYER and _area(target) in LAYER
                    and LAYER[_area(target)] > LAYER[_area(module)])
    assert upward == []


def test_no_import_circle():
    graph = _imports(top_level_only=True)
    circles = []
    state: dict[str, int] = {}  # 1 on the path, 2 done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                circles.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target, path + [target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert circles == []


@pytest.mark.parametrize("layer", range(len(LAYERS)))
def test_the_readme_draws_the_same_layers(layer):
    with open(os.path.join(os.path.dirname(PACKAGE), "README.md"), encoding="utf-8") as handle:
        text = handle.read()
    section = text.split("## Architecture", 1)[1].split("\n## ", 1)[0]
    line = next((line for line in section.splitlines() if line.startswith(f"{layer + 1}. ")), "")
    assert all(f"`{area}`" in line for area in LAYERS[layer]), (LAYERS[layer], line)
