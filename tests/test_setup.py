"""The two-command set-up: pins agree, and the commands the README names exist."""
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def pins_in_pyproject() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = project["dependencies"] + project["optional-dependencies"]["test"] + project["optional-dependencies"]["jax"]
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


def test_makefile_has_the_readme_commands_and_ci_runs_both_tiers_then_the_demo_and_checks_its_report():
    makefile = (ROOT / "Makefile").read_text()
    for target in ("test", "demo", "lab", "data", "pretrain"):
        assert re.search(rf"^{target}:", makefile, re.M), target
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert "set -euo pipefail" in ci
    e2e, demo = "TLCLINIC_SOLUTIONS_RUN_BY_THE_DEMO=1 make e2e", "TF_ENABLE_ONEDNN_OPTS=0 make demo"
    assert ci.index("make test") < ci.index(e2e), "CI runs the fast tier, then the end-to-end one"
    assert ci.index(e2e) < ci.index("rm -rf build/report") < ci.index(demo) < ci.index(
        ".venv/bin/python -m tlclinic.report build/report"), "then the main job, and checks the report it wrote"
    e2e = re.search(r"^e2e:.*\n\t(.*)", makefile, re.M)
    assert e2e and e2e.group(1).startswith("TF_ENABLE_ONEDNN_OPTS=0 "), "the demo reuses what the first pass kept"
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make demo" in readme


def test_make_lab_and_the_browser_tests_jupyterlab_share_settings_the_installed_jupyterlab_knows():
    """One file of JupyterLab settings (no news toast; widgets' state saved): make lab installs it as JupyterLab's
    overrides, the browser driver reads it, and every setting in it is one of the installed JupyterLab's schemas,
    with a value the schema allows (a key JupyterLab renamed would be silently ignored)."""
    import json
    import sys

    from tlclinic import browser

    settings = json.loads(browser.LAB_SETTINGS.read_text())
    assert settings["@jupyterlab/apputils-extension:notification"] == {"fetchNews": "false"}
    assert f"cp {browser.LAB_SETTINGS.relative_to(ROOT)} $(VENV)/share/jupyter/lab/settings/overrides.json" in (
        ROOT / "Makefile").read_text()
    for plugin, values in settings.items():
        package, name = plugin.split(":")
        share = Path(sys.prefix) / "share" / "jupyter"  # JupyterLab's own plugins, then a prebuilt extension's
        [schema] = [json.loads(path.read_text()) for path in (share / "lab" / "schemas" / package / f"{name}.json",
                    share / "labextensions" / package / "schemas" / package / f"{name}.json") if path.is_file()]
        for key, value in values.items():
            allowed = schema["properties"][key]
            assert value in [choice["const"] for choice in allowed.get("oneOf", [])] or ("oneOf" not in allowed and
                    {"string": str, "boolean": bool}[allowed["type"]] is type(value)), (plugin, key)
