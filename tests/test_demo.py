"""make demo's machinery: a real lesson end to end, and a failing lesson that is reported while the rest run."""
import re
import types

import nbformat
import pytest

from tlclinic import browser, demo, device, lesson as lesson_interface, lessons, report
from tlclinic.notebooks import PASSED


def a_solution_executed(*printed: str):
    """A notebook as a clean solution leaves it: what it printed, then its visible check's pass."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(...)")])
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", text=f"{text}\n") for text in (*printed, PASSED)]
    return nb


class _PNG:
    """A lesson's figure as the demo saves it: a PNG file's first bytes."""

    def savefig(self, path, dpi):
        path.write_bytes(b"\x89PNG\r\n\x1a\n")


@pytest.mark.e2e
@pytest.mark.numerics
@pytest.mark.xdist_group("demo")
def test_demo_runs_a_lesson_and_writes_the_table_the_page_and_the_plots(tmp_path, capsys, monkeypatch):
    """The lesson's broken program and fix run for real; its notebook is executed by the grading test instead."""
    executed = []

    def execute(path):
        executed.append(path)
        return a_solution_executed("types and shapes are right")

    monkeypatch.setattr(demo, "execute", execute)
    assert demo.main(["01-softmax-one-unit", "--out", str(tmp_path)]) == 0
    assert [p.name for p in executed] == ["01-softmax-one-unit.ipynb"]
    table = (tmp_path / "table.md").read_text().splitlines()
    assert table[0] == "| " + " | ".join((*report.COLUMNS, "result")) + " |"
    [row] = [line for line in table if line.startswith("| 01-softmax-one-unit")]
    assert "every prediction is 1.0 within 1e-06" in row and "share of class 1 0.50" in row
    *_, device_cell, result = row.rstrip(" |").split(" | ")
    assert device_cell in ("CPU", "GPU: " + device.describe()["device"]) and result == "ok"
    assert "val accuracy 0.9" in row  # measured 0.96; the graded threshold is 0.8
    page = (tmp_path / "index.html").read_text()
    assert page.index("<table>") < page.index("01-softmax-one-unit-curves.png")  # the table comes first
    for name in ("01-softmax-one-unit-curves.png", "01-softmax-one-unit-predictions.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and name in page
    assert "types and shapes are right" in (tmp_path / "01-softmax-one-unit.html").read_text()
    out = capsys.readouterr().out
    assert "01-softmax-one-unit: ok" in out and row in out


def test_a_lesson_that_fails_is_reported_with_its_reason_and_the_others_still_run(tmp_path, monkeypatch, capsys):
    fine = lesson_interface.Demo("a symptom", "a fix", "a metric", True, True)
    lost = lesson_interface.demo("nothing seen", "a fix", "a metric", reproduced=False, not_reproduced="loss went down",
                       converged=(True, ""), figures={})

    def load(lesson):
        if lesson == "02-relu-regression-output":
            return types.SimpleNamespace(DATA=(), prepare=lambda: None, demo=lambda: (_ for _ in ()).throw(RuntimeError("no data\nat all")))
        return types.SimpleNamespace(DATA=(), prepare=lambda: None, demo=lambda: lost if lesson == "01-softmax-one-unit" else fine)

    monkeypatch.setattr(demo, "load", load)
    monkeypatch.setattr(demo, "execute", lambda path: a_solution_executed())
    monkeypatch.setattr(demo, "probe_backbone", lambda: [])
    assert demo.main(["--out", str(tmp_path)]) == 1
    table = (tmp_path / "table.md").read_text()
    assert "FAILED 01-softmax-one-unit: the symptom was not reproduced: loss went down" in table
    assert "FAILED 02-relu-regression-output: RuntimeError: no data at all" in table
    assert "| 03-learning-rate | a symptom | a fix | a metric |" in table and "FAILED 03" not in table
    results = {line.split(" | ")[0].strip("| "): line.rstrip(" |").rsplit(" | ", 1)[1] for line in table.splitlines()
               if line.startswith("| 0")}
    assert results == {name: "FAILED" if name < "03" else "ok" for name in lessons.names()}
    assert "FAILED" in (tmp_path / "index.html").read_text()


def test_a_run_of_one_lesson_keeps_the_other_lessons_rows_and_sections_from_the_last_run(tmp_path, monkeypatch):
    def figured(name):
        return lesson_interface.Demo(f"symptom of {name}", "a fix", "a metric", True, True, figures={"curves": _PNG()})

    monkeypatch.setattr(demo, "load", lambda name: types.SimpleNamespace(DATA=(), prepare=lambda: None, demo=lambda: figured(name)))
    monkeypatch.setattr(demo, "execute", lambda path: a_solution_executed())
    monkeypatch.setattr(demo, "probe_backbone", lambda: [])
    assert demo.main(["--out", str(tmp_path)]) == 0
    first, last = lessons.names()[0], lessons.names()[-1]
    monkeypatch.setattr(demo, "load", lambda name: types.SimpleNamespace(
        DATA=(), prepare=lambda: None, demo=lambda: lesson_interface.demo("nothing seen", "a fix", "a metric", False, "no symptom", (True, ""), {})))
    assert demo.main([last, "--out", str(tmp_path), "--fresh"]) == 1
    table = (tmp_path / "table.md").read_text()
    assert f"| {first} | symptom of {first} |" in table and f"FAILED {last}: the symptom was not reproduced" in table
    assert len([line for line in table.splitlines() if line.startswith("| 0")]) == len(lessons.names())
    page = (tmp_path / "index.html").read_text()
    assert f"{first}-curves.png" in page and f"kept from earlier runs: {first} of " in page


def test_a_lesson_that_passed_with_nothing_changed_is_kept_and_run_again_when_anything_did(tmp_path, monkeypatch,
                                                                                          capsys):
    """A second run into the same --out keeps each lesson that passed last time under the same key, saying so; a
    lesson that failed, whose key changed (its code, notebook, data, kernels...) or whose files are gone runs again,
    and so does every lesson with --fresh."""
    ran, failing = [], {lessons.names()[1]}

    def execute(path):
        ran.append(path.stem)
        return a_solution_executed()

    def figured(name):
        return lesson_interface.demo(f"symptom of {name}", "a fix", "a metric", True, "", (name not in failing, "no"),
                                     {"curves": _PNG()})

    monkeypatch.setattr(demo, "execute", execute)
    monkeypatch.setattr(demo, "load", lambda name: types.SimpleNamespace(DATA=(), prepare=lambda: None,
                                                                          demo=lambda: figured(name)))
    monkeypatch.setattr(demo, "probe_backbone", lambda: [])
    # The code, data and kernels stay as they are here (test workers beside this one may be drawing datasets).
    monkeypatch.setattr(demo.results, "identity", lambda: "the same code, data, weights and kernels")
    first, second, third, *_ = lessons.names()
    assert demo.main(["--out", str(tmp_path)]) == 1 and ran == lessons.names()
    ran.clear(), failing.clear()
    (tmp_path / f"{third}-curves.png").unlink()
    real_key = demo.lesson_key
    monkeypatch.setattr(demo, "lesson_key", lambda lesson, device, identity: real_key(lesson, device, identity) + (
        "changed" if lesson == lessons.names()[-1] else ""))
    assert demo.main(["--out", str(tmp_path)]) == 0
    assert ran == [second, third, lessons.names()[-1]]  # failed, a figure gone, its key changed
    out = capsys.readouterr().out
    assert f"{first}: ok, kept from the run of " in out and f"{second}: ok in " in out
    assert f"kept from earlier runs: {first} of " in (tmp_path / "index.html").read_text()
    ran.clear()
    assert demo.main(["--out", str(tmp_path)]) == 0 and ran == []
    assert demo.main(["--out", str(tmp_path), "--fresh"]) == 0 and ran == lessons.names()


def test_the_notebooks_run_side_by_side_and_each_lesson_is_reported_in_order_with_its_own_failure(
        tmp_path, capsys, monkeypatch):
    """``--jobs 2``: two notebooks execute at once (never more), the rows keep the lessons' order, and a notebook
    that fails, or shows a stream to stderr, fails its own lesson only."""
    import threading
    import time

    running, most, lock = [0], [0], threading.Lock()

    def execute(path):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.3 if path.stem == lessons.names()[0] else 0.05)  # the first lesson's notebook ends last
        with lock:
            running[0] -= 1
        if path.stem == lessons.names()[1]:
            raise RuntimeError("a cell failed")
        nb = a_solution_executed()
        if path.stem == lessons.names()[2]:  # every cell ran, but one shows a warning in a red box
            nb.cells[0].outputs.append(nbformat.v4.new_output("stream", name="stderr", text="UserWarning: slow\n"))
        return nb

    monkeypatch.setattr(demo, "execute", execute)
    monkeypatch.setattr(demo, "load", lambda name: types.SimpleNamespace(DATA=(), prepare=lambda: None, demo=lambda: (
        lesson_interface.Demo(f"symptom of {name}", "a fix", "a metric", True, True, "", {}))))
    monkeypatch.setattr(demo, "probe_backbone", lambda: [])
    assert demo.main(["--out", str(tmp_path), "--jobs", "2"]) == 1
    assert most[0] == 2
    printed_lines = capsys.readouterr().out.splitlines()
    printed = [line.split(":")[0] for line in printed_lines if " in " in line and ": " in line]
    assert printed[:len(lessons.names())] == lessons.names()
    table = (tmp_path / "table.md").read_text()
    assert "RuntimeError: a cell failed" in table and table.count("RuntimeError") == 1
    assert "its notebook shows what a person should not see: cell 0: UserWarning: slow" in table
    assert [line.split(":")[0] for line in table.splitlines() if line.startswith("FAILED ")] == [
        f"FAILED {name}" for name in lessons.names()[1:3]]
    [failed] = [line for line in printed_lines if line.startswith(f"{lessons.names()[1]}: FAILED in ")]
    assert float(failed.split(" in ")[1].split()[0]) >= 0.05  # the time its notebook ran before it failed


def test_the_report_check_passes_a_whole_report_and_names_each_file_missing_or_empty_and_each_online_load(
        tmp_path, monkeypatch):
    """What CI runs after make demo (python -m tlclinic.report): quiet on the report a run writes, and each fault."""
    monkeypatch.setattr(demo, "load", lambda name: types.SimpleNamespace(DATA=(), prepare=lambda: None, demo=lambda: lesson_interface.Demo(
        "a symptom", "a fix", "a metric", True, True, figures={"curves": _PNG()})))
    monkeypatch.setattr(demo, "execute", lambda path: a_solution_executed())
    monkeypatch.setattr(demo, "probe_backbone", lambda: [])
    assert demo.main(["--out", str(tmp_path)]) == 0
    assert report.check(tmp_path, lessons.names()) == [] and report.main([str(tmp_path)]) == 0
    first, second, third = lessons.names()[:3]
    (tmp_path / f"{first}-curves.png").unlink()
    (tmp_path / f"{second}.html").write_text("")
    page = tmp_path / f"{third}.html"
    page.write_text(page.read_text().replace("</head>", '<link rel="stylesheet" href="https://fonts.example/a.css">'
                                             '<script>s.src = "//cdn.example/b.js"</script></head>'))
    assert sorted(report.check(tmp_path, lessons.names())) == sorted([
        f"{first}-curves.png is missing or empty", f"{second}.html is missing or empty",
        f"{third}.html loads https://fonts.example/a.css from the network",
        f"{third}.html loads //cdn.example/b.js from the network"])
    assert report.main([str(tmp_path)]) == 1


@pytest.mark.skipif(browser.missing() is not None, reason=f"NO BROWSER: {browser.missing()}; the report's pages "
                                                          "were not opened with the network cut")
def test_the_reports_pages_load_nothing_from_the_network_and_render_their_formulas_with_it_cut(tmp_path):
    """A lesson's page as the demo writes it (a formula; a live control, its picture and the widgets' state) and the
    index: neither names a script, style, font or image on another host, and in Chromium with the network cut the
    lesson's page renders its formula from the report's MathJax with no request failed."""
    from playwright.sync_api import sync_playwright

    demo.copy_mathjax(tmp_path)
    control = nbformat.v4.new_output("display_data", data={
        "application/vnd.jupyter.widget-view+json": {"model_id": "m", "version_major": 2, "version_minor": 0},
        "text/plain": "ToggleButtons(options=('softmax', 'sigmoid'), value='softmax')"})
    picture = nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo="})
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell(r"$$\mathrm{softmax}(z) = \frac{e^z}{e^z} = 1$$"),
        nbformat.v4.new_code_cell("lesson.live()", outputs=[control, picture])])
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}, "version_major": 2,
                                                                             "version_minor": 0}}
    page = tmp_path / "page.html"
    page.write_text(demo.notebook_html(nb))
    index = report.write_index([report.Row("01-softmax-one-unit", None, 1.0, "CPU", notebook_html=page.name)],
                               tmp_path, "a run")
    assert 'src="mathjax/MathJax.js' in page.read_text()
    assert {path.name: report.online_references(path.read_text()) for path in (page, index)} == {
        page.name: [], index.name: []}
    requests, failed = [], []
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=browser.CHROMIUM, headless=True,
                                     args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
        try:
            tab = chromium.new_page()
            tab.on("request", lambda request: requests.append(request.url))
            tab.on("requestfailed", lambda request: request.url == "about:blank" or  # MathJax's blank test font
                   failed.append(f"{request.url}: {request.failure}"))
            tab.route(re.compile(r"^(?!file:|data:|about:)"), lambda route: route.abort())  # the network is cut
            tab.goto(page.as_uri())
            tab.locator(".MathJax_Display").first.wait_for(timeout=60_000)  # typeset from the report's copy
            tab.wait_for_load_state("networkidle")
        finally:
            chromium.close()
    assert failed == [] and [url for url in requests if not url.startswith(("file:", "data:", "about:"))] == [], failed
