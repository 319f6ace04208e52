"""The workbook's main job: ``make demo``.

    python -m tlclinic.demo [--out build/report] [--jobs N] [LESSON ...]

Reports the device, draws the datasets if needed and shows that the pretrained backbone's features transfer
(a linear probe against the same network with random weights).  Then, for every lesson in order, it executes
the solution notebook headless in a kernel started as a person's JupyterLab starts it (a stream to stderr,
start-up noise or no visible check passed fails the lesson), runs the lesson's broken program and its fix, and
measures both.  The notebooks run ``--jobs`` at a time (one per core by default), each in a kernel of its own,
beside the demos; each is deterministic, so running them side by side changes their times, never their results.
It writes ``build/report/``: ``index.html`` (opens offline, no server), each executed notebook as HTML, PNG plots
and ``table.md``, and prints the table.  It exits 1 when any lesson did not reproduce its symptom or its fix did
not converge, saying why; the other lessons still run and are reported.  A run of some lessons keeps the other
lessons' rows and sections from the last run into the same ``--out`` (``rows.json``), saying so.  A lesson that
passed in the last run into ``--out``, with nothing its results depend on changed since (``lesson_key``: the
package's code, its notebook, the data, the weights, the kernels and the libraries), is kept too and not run
again, saying so; ``--fresh`` runs every lesson again.
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import importlib.metadata
import os
import shutil
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import jinja2
from nbconvert import HTMLExporter

from . import data, device, report, results
from .console import gist
from .backbone import get_backbone
from .features import cached_features
from .lessons import load, names, select, source_notebook
from .notebooks import execute, shown_wrong
from .progress import progress
from .training import linear_probe


PROBE_DATA = "shapes"


def probe_backbone() -> list[tuple[str, float, float]]:
    """(weights, test accuracy, seconds) of a linear probe on ``shapes``, pretrained against random weights."""
    rows = []
    for weights in ("pretrained", None):
        start = time.perf_counter()
        backbone = get_backbone("mini_inception", weights=weights)
        train, test = (cached_features(PROBE_DATA, split, backbone) for split in ("train", "test"))
        accuracy = linear_probe(train, test)
        rows.append((weights or "random", accuracy, time.perf_counter() - start))
    return rows


MATHJAX = "mathjax"  # the report's own copy of MathJax, beside index.html
# MathJax 2 as jupyter-server-mathjax ships it: its full TeX config, and the STIX web fonts it carries.
MATHJAX_URL = f"{MATHJAX}/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe"
MATHJAX_FONTS = ('<script type="text/x-mathjax-config">MathJax.Hub.Config({"HTML-CSS": {availableFonts: [], '
                 'preferredFont: null, webFont: "STIX-Web", imageFont: null}});</script>')
# nbconvert's lab page without what it would load from the network and the report does not need: require.js and
# the widgets' renderer (a live control's picture is an image output beside it, saying that it is live in
# JupyterLab; the static page has no kernel for the control) and mermaid (no notebook draws a diagram).
OFFLINE_PAGE = """{%- extends 'index.html.j2' -%}
{% block html_head_js_requirejs %}{% endblock %}
{% block jupyter_widgets %}{% endblock %}
{% block html_head_js_mermaidjs %}{% endblock %}"""


def copy_mathjax(out: Path) -> None:
    """MathJax into ``out/mathjax/``, so that the executed notebooks render their formulas with no network."""
    import jupyter_server_mathjax

    source = Path(jupyter_server_mathjax.__file__).parent / "static"
    shutil.copytree(source, out / MATHJAX, dirs_exist_ok=True)


def notebook_html(nb) -> str:
    """An executed notebook as one HTML page that loads nothing from the network: its formulas rendered by the
    report's own copy of MathJax, and no script, style or font from elsewhere (``OFFLINE_PAGE``)."""
    exporter = HTMLExporter(mathjax_url=MATHJAX_URL, template_file="offline.html.j2",
                            extra_loaders=[jinja2.DictLoader({"offline.html.j2": OFFLINE_PAGE})])
    body, _ = exporter.from_notebook_node(nb)
    return body.replace("</head>", MATHJAX_FONTS + "</head>", 1)


def timed_execute(lesson: str):
    """(the lesson's solution notebook executed, seconds it took); an error raised carries its ``seconds`` too."""
    start = time.perf_counter()
    try:
        return execute(source_notebook(lesson)), time.perf_counter() - start
    except Exception as error:
        error.seconds = time.perf_counter() - start
        raise


# What executes and renders a notebook, besides the package, Keras and its backend (``results.identity``).
RENDERING = ("numpy", "matplotlib", "ipywidgets", "ipykernel", "nbclient", "nbconvert")


def lesson_key(lesson: str, device_name: str, identity: str) -> str:
    """What a lesson's row depends on: everything a kept result does (``identity``, ``results.identity()``: the
    package's code, the weights, the data, the kernels, Keras and its backend's version), its solution notebook,
    the device, and the versions of what executes and renders the notebook."""
    digest = hashlib.sha256(identity.encode())
    digest.update(source_notebook(lesson).read_bytes())
    digest.update(repr([device_name, *(importlib.metadata.version(name) for name in RENDERING)]).encode())
    return digest.hexdigest()


def unchanged(row: report.Row | None, key: str, out: Path) -> bool:
    """Whether the last run's ``row`` of a lesson can stand for this run: it passed, under the same ``key``, and
    its notebook page and figures are still in ``out``."""
    if row is None or not row.ok or row.key != key:
        return False
    files = [row.notebook_html, *(f"{row.lesson}-{name}.png" for name in row.demo.figures)]
    return all((out / name).is_file() for name in files)


def run_lesson(lesson: str, out: Path, device_name: str, executed: Future) -> report.Row:
    """A lesson's row: its solution notebook executed (``executed``, a ``timed_execute`` under way beside this) and
    showing nothing a person should not see (``notebooks.shown_wrong``), then its demo; any error becomes the row's
    reason.  Its seconds are the notebook's and the demo's."""
    row = report.Row(lesson, None, 0.0, device_name, date=str(datetime.date.today()))
    try:
        nb, row.seconds = executed.result()
        row.notebook_html = f"{lesson}.html"
        (out / row.notebook_html).write_text(notebook_html(nb))
        if wrong := shown_wrong(nb):
            raise ValueError(f"its notebook shows what a person should not see: {'; '.join(wrong)}")
        start = time.perf_counter()
        row.demo = load(lesson).demo()
        row.seconds += time.perf_counter() - start
        for name, figure in row.demo.figures.items():
            figure.savefig(out / f"{lesson}-{name}.png", dpi=90)
    except Exception as error:  # report the lesson as failed with its error, and go on with the others
        row.error = f"{type(error).__name__}: {gist(error)}"[:400]
        row.seconds = row.seconds or getattr(error, "seconds", 0.0)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tlclinic.demo", description=__doc__.split("\n")[0])
    parser.add_argument("lessons", nargs="*", metavar="LESSON", help=f"default: all of {', '.join(names())}")
    parser.add_argument("--out", type=Path, default=Path("build/report"))
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="solution notebooks executed at once, each in its own kernel (the demos run one at a "
                             "time, in lesson order)")
    parser.add_argument("--fresh", action="store_true",
                        help="run every lesson again, even one that passed in the last run with nothing changed")
    args = parser.parse_args(argv)
    args.lessons = select(args.lessons, parser.error)
    began = time.perf_counter()
    info = device.report()
    device_name = "CPU" if info["device"].startswith("CPU") else f"GPU: {info['device']}"
    data.ensure(PROBE_DATA)  # the probe's dataset (the backbone's source is pretrain's)
    for lesson in args.lessons:
        load(lesson).prepare()  # its datasets and the features its notebook reads, before the notebooks run side by side
    print(f"\ndata ready under {data.DATA_DIR}")
    print("\nlinear probe on shapes (test accuracy), mini_inception backbone")
    for weights, accuracy, seconds in probe_backbone():
        print(f"  {weights:<12}{accuracy:>8.3f}{seconds:>8.1f} s")

    args.out.mkdir(parents=True, exist_ok=True)
    copy_mathjax(args.out)
    earlier = {row.lesson: row for row in report.load_rows(args.out)}
    identity = results.identity()  # the package's code hashed once for every lesson's key
    keys = {lesson: lesson_key(lesson, device_name, identity) for lesson in args.lessons}
    same = [] if args.fresh else [name for name in args.lessons if unchanged(earlier.get(name), keys[name], args.out)]
    for lesson in same:
        print(f"{lesson}: ok, kept from the run of {earlier[lesson].date}: nothing it depends on has changed "
              "(--fresh runs it again)", flush=True)
    to_run, rows = [lesson for lesson in args.lessons if lesson not in same], []
    bar = progress(to_run, "lessons") if to_run else []
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as notebooks:
        executed = [notebooks.submit(timed_execute, lesson) for lesson in to_run]
        for lesson, notebook in zip(bar, executed):
            bar.set_postfix_str(lesson)
            rows.append(run_lesson(lesson, args.out, device_name, notebook))
            rows[-1].key = keys[lesson]
            print(f"{lesson}: {'ok' if rows[-1].ok else 'FAILED'} in {rows[-1].seconds:.1f} s", flush=True)
    shown = report.merged(list(earlier.values()), rows, names())
    report.save_rows(shown, args.out)
    table = report.format_table(shown)
    (args.out / "table.md").write_text(table + "\n")
    kept = [row for row in shown if row not in rows]
    intro = (f"make demo on {datetime.date.today()}: {device_name}, Keras {info['keras']} on {info['backend']}, "
             f"{len(rows)} lessons in {time.perf_counter() - began:.0f} s"
             + (f" (kept from earlier runs: {', '.join(f'{r.lesson} of {r.date}' for r in kept)})" if kept else "")
             + ". Each lesson: its solution notebook executed headless, then its broken program and its fix, measured.")
    index = report.write_index(shown, args.out, intro)
    print(f"\n{table}\n\nreport: {index}")
    return 0 if all(row.ok for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
