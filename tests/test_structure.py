"""The shape of the package: commands on top, then what drives the lessons (the grader, the demo), the lessons, the
Lesson interface, and the library at the bottom.  No module imports one of a higher layer, no modules import each
other in a circle, and no lesson imports another lesson (what two lessons share lives in a shared module)."""
import ast
from pathlib import Path

from tlclinic import lessons

PACKAGE = Path(lessons.__file__).resolve().parent.parent
# Top first.  A module is in the layer of the longest prefix of its dotted name listed here; the rest is library.
LAYERS = {
    "tlclinic.commands": 5,
    "tlclinic.grader": 4, "tlclinic.demo": 4, "tlclinic.report": 4,
    "tlclinic.nbgrader_release": 4, "tlclinic.browser": 4,
    "tlclinic.lessons": 3,
    "tlclinic.lesson": 2,
}
LIBRARY = 1


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(name: str) -> int:
    found = [prefix for prefix in LAYERS if name == prefix or name.startswith(prefix + ".")]
    return LAYERS[max(found, key=len)] if found else LIBRARY


def imports(path: Path) -> set[str]:
    """The modules of the package that a file imports, anywhere in it (functions' own imports too)."""
    name, found = module_name(path), set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([node.module] if node.module else []))
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    modules = {module_name(p) for p in PACKAGE.rglob("*.py")}
    return {m for m in found if m in modules and m != name}


GRAPH = {module_name(p): imports(p) for p in PACKAGE.rglob("*.py")}


def test_no_module_imports_one_of_a_higher_layer():
    upward = [f"{a} (layer {layer(a)}) imports {b} (layer {layer(b)})"
              for a, targets in GRAPH.items() for b in targets if layer(b) > layer(a)]
    assert not upward, "\n".join(upward)


def test_no_import_circle():
    def reach(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for nxt in GRAPH.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    # A package imports its own submodules (its face hands their names on): those edges are not circles.
    circles = sorted(a for a in GRAPH if a in reach(a) and not any(
        b.startswith(a + ".") or a.startswith(b + ".") for b in GRAPH[a] if a in reach(b)))
    assert not circles, f"modules in an import circle: {circles}"


def test_no_lesson_imports_another_lesson():
    own = {name: module_name(Path(lesson.__file__)) for name, lesson in lessons.discover().items()}
    for name, package in own.items():
        others = [p for p in own.values() if p != package]
        for module, targets in GRAPH.items():
            if module == package or module.startswith(package + "."):
                wrong = [t for t in targets for other in others if t == other or t.startswith(other + ".")]
                assert not wrong, f"{module} imports {wrong}: take it from a shared module instead"


def test_the_check_sees_every_kind_of_import():
    """The graph is read right: a lesson imports the interface, the verifier's command the lessons."""
    lesson01 = module_name(Path(next(iter(lessons.discover().values())).__file__))
    assert "tlclinic.lesson" in GRAPH[lesson01]
    assert "tlclinic.lessons" in GRAPH["tlclinic.commands.verify"] and "tlclinic.jail" in GRAPH["tlclinic.verdict"]
