"""The report ``make demo`` writes: a row per lesson, the table, and an index page with the plots.

    python -m tlclinic.report [build/report]

checks a report that ``make demo`` wrote (CI runs it after ``make demo``): see ``check``.
"""
from __future__ import annotations

import dataclasses
import html
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from .lesson import Demo
from .lessons import names

COLUMNS = ("lesson", "symptom measured on the broken program", "fix", "metric reached by the fix", "seconds",
           "device")


@dataclass
class Row:
    lesson: str
    demo: Demo | None
    seconds: float
    device: str
    error: str = ""  # an exception that stopped the lesson
    notebook_html: str = ""  # file name of the executed notebook, rendered
    date: str = ""  # the day it ran
    key: str = ""  # what its results depend on (``demo.lesson_key``): a later run with the same key keeps the row

    @property
    def ok(self) -> bool:
        return not self.error and self.demo is not None and self.demo.ok

    @property
    def reason(self) -> str:
        return self.error or (self.demo.reason if self.demo and not self.demo.ok else "")

    def cells(self) -> tuple[str, ...]:
        d = self.demo
        return (self.lesson, d.symptom if d else "-", d.fix if d else "-", d.metric if d else "-",
                f"{self.seconds:.1f}", self.device)


ROWS = "rows.json"  # beside index.html: every lesson's last row, so a run of one lesson keeps the others


def save_rows(rows: list[Row], out: Path) -> None:
    """The rows as JSON in ``out`` (the figures by name: their PNG files are already there)."""
    kept = [{**{f.name: getattr(row, f.name) for f in dataclasses.fields(row) if f.name != "demo"},
             "demo": None if row.demo is None else {**{f.name: getattr(row.demo, f.name)
                                                      for f in dataclasses.fields(row.demo) if f.name != "figures"},
                                                   "figures": list(row.demo.figures)}} for row in rows]
    (out / ROWS).write_text(json.dumps(kept, indent=1) + "\n")


def load_rows(out: Path) -> list[Row]:
    """The rows an earlier run saved in ``out`` ([] when there are none or they cannot be read)."""
    try:
        saved = json.loads((out / ROWS).read_text())
        return [Row(**{**row, "demo": None if row["demo"] is None else Demo(
            **{**row["demo"], "figures": dict.fromkeys(row["demo"]["figures"])})}) for row in saved]
    except (OSError, ValueError, TypeError, KeyError):
        return []


def merged(earlier: list[Row], now: list[Row], order: list[str]) -> list[Row]:
    """This run's rows, and for every other lesson of ``order`` its row from an earlier run, in lesson order."""
    by_lesson = {row.lesson: row for row in earlier if row.lesson in order}
    by_lesson.update({row.lesson: row for row in now})
    return [by_lesson[name] for name in order if name in by_lesson]


def format_table(rows: list[Row]) -> str:
    """A Markdown table of the rows with their result, and a line for each lesson that failed saying why."""
    lines = ["| " + " | ".join((*COLUMNS, "result")) + " |", "|" + "---|" * (len(COLUMNS) + 1)]
    lines += ["| " + " | ".join((*row.cells(), "ok" if row.ok else "FAILED")) + " |" for row in rows]
    lines += [f"FAILED {row.lesson}: {row.reason}" for row in rows if not row.ok]
    return "\n".join(lines)


_STYLE = """body{font:15px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#222}
table{border-collapse:collapse;width:100%;margin:1em 0}th,td{border:1px solid #ccc;padding:.45em .6em;
text-align:left;vertical-align:top}th{background:#f3f3f3}td.ok{color:#1a7f37;font-weight:600}
td.failed{color:#c62828;font-weight:600}img{max-width:100%;border:1px solid #eee;margin:.4em 0}
.meta{color:#666;font-size:13px}"""


def write_index(rows: list[Row], out: Path, intro: str) -> Path:
    """``out/index.html``: the table first, then each lesson's plots and a link to its executed notebook."""
    e = html.escape
    head = "".join(f"<th>{e(c)}</th>" for c in (*COLUMNS, "result"))
    body = []
    for row in rows:
        result = '<td class="ok">ok</td>' if row.ok else f'<td class="failed">FAILED: {e(row.reason)}</td>'
        lesson, *rest = row.cells()
        cells = f'<td><a href="#{e(lesson)}">{e(lesson)}</a></td>' + "".join(f"<td>{e(c)}</td>" for c in rest)
        body.append(f"<tr>{cells}{result}</tr>")
    sections = []
    for row in rows:
        names = [f"{row.lesson}-{name}" for name in (row.demo.figures if row.demo else {})]
        images = "".join(f'<img src="{e(name)}.png" alt="{e(name)}">' for name in names)
        link = f'<p><a href="{e(row.notebook_html)}">the executed notebook</a></p>' if row.notebook_html else ""
        sections.append(f'<h2 id="{e(row.lesson)}">{e(row.lesson)}</h2>{link}{images}')
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>Transfer-Learning Clinic: demo report</title>"
            f"<style>{_STYLE}</style></head><body><h1>Transfer-Learning Clinic: demo report</h1>"
            f"<p class='meta'>{e(intro)}</p><table><tr>{head}</tr>{''.join(body)}</table>{''.join(sections)}"
            "</body></html>\n")
    path = out / "index.html"
    path.write_text(page)
    return path


_ONLINE = r"""((?:https?:)?//[^\s"'`()<>]+)"""  # an address on another host
# Where a page loads an address from: a tag's src or href (a script, style sheet, font, image, frame), a style's
# url() or @import, or a string in a script's code (what it appends or imports).  A link to click is no load.
_LOADS = re.compile(r"<(?:script|link|img|iframe|source|embed|object|video|audio)\b[^>]*?\b(?:src|href|data)\s*=\s*"
                    r"[\"']?" + _ONLINE + r"|(?:url\(|@import)\s*[\"']?" + _ONLINE, re.I)
_CODE = re.compile(r"<script\b([^>]*)>(.*?)</script>", re.I | re.S)
_LOCAL = re.compile(r"""\b(?:src|href)=["']([^"'#?:]+)(?=["'#?])""")  # a file beside the page


def online_references(page: str) -> list[str]:
    """Every address on another host that ``page`` would load a script, style, font or image from."""
    found = [a or b for a, b in _LOADS.findall(page)]
    for attributes, code in _CODE.findall(page):
        kind = re.search(r"""\btype=["']?([^"'\s>]+)""", attributes)
        if kind and kind[1].lower() not in ("text/javascript", "application/javascript", "module"):
            continue  # data (a widget's state, MathJax's configuration), not code
        found += re.findall(r"[\"'`]" + _ONLINE, re.sub(r"/\*.*?\*/", "", code, flags=re.S))
    return found


def check(out: Path, lessons: list[str]) -> list[str]:
    """What is wrong with the report in ``out`` (nothing: []): a file missing or empty (the index, the table, the
    rows, each lesson's page, anything a page loads or links to beside it), a lesson without its page or a plot
    on the index, a page that would load a script, style, font or image from the network."""
    index = out / "index.html"
    pages = [index] + [out / f"{lesson}.html" for lesson in lessons]
    wanted = {out / "table.md", out / ROWS, *pages}
    problems = []
    for page in (page for page in pages if page.is_file()):
        text = page.read_text()
        wanted |= {out / name for name in _LOCAL.findall(text)}
        problems += [f"{page.name} loads {address} from the network" for address in online_references(text)]
        if page == index:
            problems += [f"index.html has no link to {lesson}.html or no plot of it" for lesson in lessons
                         if f'href="{lesson}.html"' not in text or f'<img src="{lesson}-' not in text]
    problems += [f"{path.relative_to(out)} is missing or empty" for path in sorted(wanted)
                 if not path.is_file() or not path.stat().st_size]
    return problems


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0] if args else "build/report")
    problems = check(out, names())
    print("\n".join(problems) if problems else f"{out}: the report of {len(names())} lessons is complete and offline")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
