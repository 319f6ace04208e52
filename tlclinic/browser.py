"""A lesson in JupyterLab, driven in Chromium as a person would: open it, run every cell, change its live control
with the mouse, and time each change from the click to the new figure on the page.

The browser test (tests/test_browser.py) and ``make bench`` use this.  It needs Chromium from the distribution
(``apt-get install chromium``) and Playwright for Python (the ``test`` extra); Playwright's own browser download is
never used, so nothing is fetched.  The notebook runs from a copy in a temporary folder, so that autosave never
writes outputs into the workbook.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from .live import DONE as DONE_WORDS
from .notebooks import NOT_A_PERSONS

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
LAB_SETTINGS = Path(__file__).with_name("jupyterlab-overrides.json")  # make lab's settings; the JupyterLab here's too
WIDGET_ERROR = "Error displaying widget"
DONE = re.compile(r"redrawn.* in [0-9.]+ s")  # the live status once a change is drawn in full
ALL_READY = re.compile(r"; (\d+) of \1 other choices ready$")  # ... once the background has trained every other choice


def missing() -> str | None:
    """Why the browser cannot be driven here, or None."""
    if CHROMIUM is None:
        return "no Chromium: `apt-get install chromium` (make test installs it as root)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "no Playwright for Python: `pip install -e '.[test]'`"
    return None


@dataclass
class Flip:
    """One change of a live control: what was chosen, what the status said, and the times from the click."""

    choice: str
    status: str  # the live status once drawn in full
    first_figure_s: float  # click to the first new picture on the page
    final_figure_s: float  # click to the picture of the finished run

    @property
    def kind(self) -> str:
        """How the run was had: a key of ``live.DONE`` ("on the spot", "trained in the background", "revisit")."""
        return next(kind for kind, words in DONE_WORDS.items() if self.status.startswith(words))

    @property
    def retrained(self) -> bool:
        return self.kind == "on the spot"


@dataclass
class Session:
    notebook: str
    flips: list[Flip] = field(default_factory=list)
    widget_errors: int = 0
    pictures: set[str] = field(default_factory=set)  # every distinct live picture seen (its data URL's hash)
    stderr: list[str] = field(default_factory=list)  # each stderr stream among the outputs: "cell <index>: <text>"
    errors: list[tuple[str, str]] = field(default_factory=list)  # each error shown: (the cell's grade_id, its ename)
    toasts: list[str] = field(default_factory=list)  # the notifications shown over the notebook at the end


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def lab(folder: Path) -> Iterator[str]:
    """JupyterLab serving ``folder`` on localhost, with its own settings and workspaces; yields its base URL.

    Its settings are ``make lab``'s (``LAB_SETTINGS``), and every cell is kept in the page.  Its kernels show
    what a person's show at the least: it gets no ``TF_CPP_MIN_LOG_LEVEL`` from the caller (make and the tests
    set one; a JupyterLab started any other way has none: what keeps TensorFlow's log out of the cells is the
    package), nor pytest's ``PYTEST_CURRENT_TEST`` (with it, ipykernel leaves out of the cells what native code
    writes to file descriptors 1 and 2); and it starts in ``folder``, not at the root, where nbgrader's
    configuration would import TensorFlow into the server, which on loading sets ``TF_CPP_MIN_LOG_LEVEL=1`` in
    its environment, and so in every kernel's.  The app is exposed to the page (``window.jupyterapp``) so that
    the notebook's outputs can be read as JupyterLab holds them."""
    port, token = _free_port(), "tlclinic"
    env = {key: value for key, value in os.environ.items() if key not in NOT_A_PERSONS}
    env.update(JUPYTERLAB_SETTINGS_DIR=str(folder / ".lab-settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(folder / ".lab-workspaces"),
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", f"--ServerApp.token={token}",
               f"--ServerApp.root_dir={folder}", "--ServerApp.ip=127.0.0.1", "--LabApp.news_url=",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", "--LabApp.expose_app_in_browser=True"]
    if hasattr(os, "getuid") and os.getuid() == 0:
        command.append("--allow-root")
    settings = {**json.loads(LAB_SETTINGS.read_text()),
                "@jupyterlab/notebook-extension:tracker": {"windowingMode": "none"}}  # every cell in the page
    for plugin, values in settings.items():  # as the user's settings, "package:plugin" in package/plugin's file
        package, name = plugin.split(":")
        path = folder / ".lab-settings" / package / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    log = open(folder / "lab.log", "w")
    server = subprocess.Popen(command, env=env, cwd=folder, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(600):
            if server.poll() is not None:
                raise RuntimeError(f"JupyterLab exited: {(folder / 'lab.log').read_text()[-2000:]}")
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=1)
                break
            time.sleep(0.1)
        yield f"{url}/lab/tree/%s?token={token}"
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


# In the page: a record of every new live picture with the time it appeared, and of each click's time.
_WATCH = """cell => {
  const w = window.__tlc = {clicks: [], pictures: []};
  document.addEventListener('pointerdown', () => w.clicks.push(performance.now()), true);
  let last = null;
  const look = () => {
    const imgs = cell.querySelectorAll('.jp-OutputArea-output img');
    const img = imgs[imgs.length - 1];
    if (img && img.src !== last) {
      last = img.src;
      const labels = cell.querySelectorAll('.widget-label');
      w.pictures.push({t: performance.now(), src: img.src.length + ':' + img.src.slice(-64),
                       status: labels.length ? labels[labels.length - 1].textContent : ''});
    }
  };
  look();
  new MutationObserver(look).observe(cell, {subtree: true, childList: true, attributes: true});
}"""


# What the notebook shows, for an error message: the kernel's status, each cell's prompt, a dialog, the last error.
_STATE = """() => {
  const prompts = [...document.querySelectorAll('.jp-InputPrompt')].map(p => p.textContent.trim()).join(' ');
  const errors = [...document.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')];
  const status = document.querySelector('.jp-Notebook-ExecutionIndicator')?.getAttribute('data-status');
  const dialog = document.querySelector('.jp-Dialog');
  return `kernel ${status}; prompts ${prompts}; dialog: ${dialog ? dialog.textContent.slice(0, 300) : 'none'}; ` +
         `last error output: ${errors.length ? errors[errors.length - 1].textContent.slice(-1500) : 'none'}`;
}"""
_STARTED = "() => [...document.querySelectorAll('.jp-InputPrompt')].some(p => /[*0-9]/.test(p.textContent))"
# Run All Cells marks every cell it queues [*] at once; none is left once each has run or Run All stopped at an error.
_ALL_RUN = "() => ![...document.querySelectorAll('.jp-InputPrompt')].some(p => p.textContent.includes('*'))"
# Each stderr stream among the notebook's outputs, as JupyterLab holds them (in the page, an error's traceback and
# a stream to stderr look alike: the same red box).
_STDERR = """() => jupyterapp.shell.currentWidget.content.model.toJSON().cells.flatMap((cell, i) =>
  (cell.outputs || []).filter(o => o.output_type === 'stream' && o.name === 'stderr')
  .map(o => `cell ${i}: ` + [].concat(o.text).join('')))"""

# Each error among the notebook's outputs (the cell Run All stopped at): [the cell's nbgrader grade_id, the error].
_ERRORS = """() => jupyterapp.shell.currentWidget.content.model.toJSON().cells.flatMap(cell =>
  (cell.outputs || []).filter(o => o.output_type === 'error')
  .map(o => [(cell.metadata.nbgrader || {}).grade_id || '', o.ename]))"""


def _seen(page, session: Session) -> None:
    """What the page shows once the kernel is idle: widget errors, stderr streams, notifications."""
    session.widget_errors = page.get_by_text(WIDGET_ERROR).count()
    session.stderr = page.evaluate(_STDERR)
    session.errors = [tuple(error) for error in page.evaluate(_ERRORS)]
    session.toasts = page.locator(".Toastify__toast").all_text_contents()


def _run_all(page, timeout_s: float) -> None:
    """Run > Run All Cells once the kernel is connected and idle, as the status bar says.  A dialog that comes up
    (JupyterLab asks for a kernel when the session is not yet connected) is accepted, as a person would; if no
    cell has started a minute later, Run All Cells once more."""
    page.locator(".jp-Notebook").wait_for(timeout=timeout_s * 1000)
    for attempt in range(2):
        page.locator(".jp-StatusBar-TextItem", has_text="| Idle").first.wait_for(timeout=timeout_s * 1000)
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if page.evaluate(_STARTED):
                return
            if page.locator(".jp-Dialog .jp-mod-accept").count():
                page.locator(".jp-Dialog .jp-mod-accept").first.click()
            time.sleep(0.5)
    raise TimeoutError(f"Run All Cells started no cell: {page.evaluate(_STATE)}")


def _live_cell(page, control: str, timeout_s: float):
    """The cell of the live control, once every cell has run (or run-all stopped at an exercise's check)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    cell = page.locator(".jp-CodeCell", has=page.locator(control)).first
    try:
        cell.locator(".jp-OutputArea-output img").wait_for(timeout=timeout_s * 1000)
        page.wait_for_function(_ALL_RUN, timeout=timeout_s * 1000)
    except PlaywrightTimeout:
        raise TimeoutError(f"no live picture within {timeout_s} s of Run All: {page.evaluate(_STATE)}") from None
    return cell


def _wait_drawn(page, status_label, pictures_before: int, timeout_s: float) -> dict:
    """The record of the picture drawn last after the latest click, once the status says the change is drawn."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        record = page.evaluate("window.__tlc")
        fresh = record["pictures"][pictures_before:]
        status = page.evaluate("w => w.textContent", status_label.element_handle())
        if fresh and DONE.search(status):
            time.sleep(0.3)  # a last update may still be on its way
            record = page.evaluate("window.__tlc")
            return {"click": record["clicks"][-1], "pictures": record["pictures"][pictures_before:], "status": status}
        time.sleep(0.05)
    raise TimeoutError(f"no new picture within {timeout_s} s of the click; the status says {status!r}, the page saw "
                       f"{page.evaluate('window.__tlc')}")


def _wait_status(status_label, pattern: re.Pattern, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while not pattern.search(status := status_label.text_content()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the status did not come to match {pattern.pattern!r} in {timeout_s} s: {status!r}")
        time.sleep(0.2)
    return status


def _flip(page, cell, click, choice: str, timeout_s: float, session: Session) -> None:
    before = len(page.evaluate("window.__tlc")["pictures"])
    click()
    drawn = _wait_drawn(page, cell.locator(".widget-label").last, before, timeout_s)
    times = [p["t"] - drawn["click"] for p in drawn["pictures"]]
    session.flips.append(Flip(choice, drawn["status"], times[0] / 1000, times[-1] / 1000))
    session.pictures.update(p["src"] for p in drawn["pictures"])


def drive(notebook: Path, choices: list, ready_first: bool = False, timeout_s: float = 60,
          log_range: tuple[float, float] = (-5, 0), read_for_s: float = 0.0) -> Session:
    """Open ``notebook`` (a copy) in JupyterLab in Chromium, run all its cells, then set its live control to each of
    ``choices`` in turn with the mouse: a toggle button's label, a checkbox's label (each click ticks or unticks it),
    or a value of a log slider over ``log_range`` (no choices: only what Run All shows).  With ``ready_first``, the
    first click waits until the status says that the background has trained every other choice (as it does while a
    person reads); without it, the first click comes as soon as every cell has run, or ``read_for_s`` after it (a
    person who reads a little first: the background is under way)."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        shutil.copy(notebook, folder / notebook.name)
        session = Session(notebook.name)
        with lab(folder) as url, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                        args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(url % notebook.name)
                _run_all(page, timeout_s)
                if choices or ready_first:
                    cell = _live_cell(page, ".widget-toggle-buttons, .widget-slider, .widget-checkbox", timeout_s)
                    slider = cell.locator(".widget-slider .noUi-target").first
                    page.evaluate(_WATCH, cell.element_handle())
                if ready_first:
                    _wait_status(cell.locator(".widget-label").last, ALL_READY, timeout_s)
                time.sleep(read_for_s)
                for choice in choices:
                    if isinstance(choice, str):  # a toggle button, or a checkbox ticked or unticked
                        button = cell.locator(".widget-toggle-button", has_text=choice).first
                        if not button.count():
                            button = cell.locator(".widget-checkbox", has_text=choice).locator("input").first
                        _flip(page, cell, button.click, choice, timeout_s, session)
                    else:
                        _flip(page, cell, lambda: _click_slider(slider, choice, log_range), f"{choice:g}", timeout_s, session)
                # Every cell Run All queued has run (the kernel may be idle for a moment between two of them), then
                # the kernel has handled every change too.
                page.wait_for_function(_ALL_RUN, timeout=timeout_s * 1000)
                page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(timeout=timeout_s * 1000)
                _seen(page, session)
            finally:
                browser.close()
        return session


def _click_slider(slider, value: float, log_range: tuple[float, float]) -> None:
    """Click the slider's track where ``value`` lies on its log scale over ``log_range`` (powers of ten).  The
    click is Playwright's: it scrolls the track into view and waits until it stands still before clicking."""
    low, high = log_range
    fraction = (math.log10(value) - low) / (high - low)
    box = slider.bounding_box()
    slider.click(position={"x": fraction * box["width"], "y": box["height"] / 2})
