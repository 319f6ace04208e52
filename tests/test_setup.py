"""The two-command set-up: pins agree, and the commands the README names exist."""
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def pins_in_pyproject() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = project["dependencies"] + project["optional-dependencies"]["test"]
    return dict(re.fullmatch(r"([A-Za-z0-9_.-]+)==(\S+)", r).groups() for r in reqs)


def pins_in_environment_yml() -> dict[str, str]:
    lines = (ROOT / "environment.yml").read_text().splitlines()
    found = (re.fullmatch(r"\s*-\s*([A-Za-z0-9_.-]+)==(\S+)", line) for line in lines)
    return dict(m.groups() for m in found if m)


def test_environment_yml_pins_the_same_packages_as_pyproject():
    assert pins_in_environment_yml() == pins_in_pyproject()


def test_every_dependency_is_pinned():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    loose = [r for r in project["dependencies"] if "==" not in r]
    assert not loose, f"unpinned dependencies: {loose}"
    assert project["optional-dependencies"]["gpu"] == ["tensorflow[and-cuda]==" + pins_in_pyproject()["tensorflow"]]


def test_makefile_has_the_readme_commands_and_ci_runs_both_tiers():
    makefile = (ROOT / "Makefile").read_text()
    for target in ("test", "demo", "lab", "data", "pretrain"):
        assert re.search(rf"^{target}:", makefile, re.M), target
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert ci.index("make test") < ci.index("make e2e"), "CI runs the fast tier, then the end-to-end one"
    assert re.search(r"^e2e:", makefile, re.M)
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make demo" in readme
