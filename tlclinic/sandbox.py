"""Run a submission's answer cells where they can harm nothing, and bring back only data.

The grader never runs a submitted notebook as it is.  It takes the lesson's own set-up cell (from the source,
so a student cannot change it) and the student's answer cells, and runs them in a fresh Python process inside
bubblewrap: the system, the Python installation and the workbook mounted read-only, the solutions, the grades,
the submissions and the git history hidden, a private /tmp, no network, its own process tree, a memory limit.
The process calls the answer once and writes its Keras config (``verdict.cross``) to the one folder it may
write; the verdict is reached elsewhere (``verdict``).

    python -m tlclinic.sandbox LESSON CELLS.json OUT    (what runs inside; the grader starts it)
"""
from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from .lessons import ROOT

MEMORY_LIMIT_BYTES = 6 * 2**30
SETUP_DONE = "setup-done"  # written inside once the lesson's own set-up cell has run: what follows is the student's
TIMINGS = "timings.json"  # when each phase inside ended, for `make bench` only: the process may write anything there
PHASES = ("start and imports", "set-up cell", "answer cells", "answer crossed to data")
HIDDEN = ("solutions", "build", ".git", "autograde")  # folders of the workbook a submission must not read


class SandboxUnavailable(RuntimeError):
    """bubblewrap is not installed or cannot start here."""


@dataclass
class Outcome:
    """What came back from the answer's process: the crossed answer, or why there is none, and whose fault."""

    crossed: dict | None = None
    error: str = ""
    student_fault: bool = True  # False: the machine failed (the set-up cell did not finish): not the student's doing
    seconds: dict = field(default_factory=dict)  # phase -> seconds, as the process reported them (bench only)


def bwrap_command(out: Path, hidden: list[Path]) -> list[str]:
    """The bubblewrap wrapper: read-only system and workbook, ``hidden`` folders masked, ``out`` writable."""
    bwrap = shutil.which("bwrap")
    if not bwrap:
        raise SandboxUnavailable("bubblewrap is needed to grade untrusted notebooks: install it with "
                                 "`apt-get install bubblewrap` (or grade trusted notebooks with --no-sandbox)")
    command = [bwrap, "--die-with-parent", "--new-session", "--unshare-all", "--cap-drop", "ALL",
               "--tmpfs", "/tmp", "--dev", "/dev", "--proc", "/proc"]  # first: the workbook may live under /tmp
    for path in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc", sys.base_prefix, sys.prefix, str(ROOT)):
        if Path(path).exists():
            command += ["--ro-bind", path, path]
    for path in hidden:
        if path.exists():
            command += ["--tmpfs", str(path)]
    command += ["--bind", str(out), str(out), "--setenv", "HOME", "/tmp", "--setenv", "MPLCONFIGDIR", "/tmp",
                "--chdir", "/tmp", "--"]
    return command


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_DATA, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))


def run_answer(lesson: str, setup: str, answer: list[str], out: Path, timeout: float, hidden: list[Path] = (),
               sandboxed: bool = True) -> Outcome:
    """Run the lesson's ``setup`` cell and the student's ``answer`` cells in a fresh, sandboxed process.

    ``out`` is an empty folder, the only place the process may write.  A process past ``timeout`` is killed:
    after the set-up cell finished, that is the student's answer running too long; before, the machine's.
    """
    out.mkdir(parents=True, exist_ok=True)
    cells = out / "cells.json"
    cells.write_text(json.dumps({"setup": setup, "answer": answer}))
    wrapper = bwrap_command(out, [ROOT / name for name in HIDDEN] + list(hidden)) if sandboxed else []
    env = {key: value for key, value in os.environ.items() if key in ("PATH", "LANG", "TF_ENABLE_ONEDNN_OPTS",
                                                                        "KERAS_BACKEND", "CUDA_VISIBLE_DEVICES")}
    env.update(TF_CPP_MIN_LOG_LEVEL="3", TQDM_DISABLE="1", PYTHONDONTWRITEBYTECODE="1", HOME=str(out),
               MPLCONFIGDIR=str(out))
    spawned = time.time()
    process = subprocess.Popen([*wrapper, sys.executable, "-m", "tlclinic.sandbox", lesson, str(cells), str(out)],
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               env=env, start_new_session=True, preexec_fn=_limit_memory, cwd=out)
    try:
        log, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        if (out / SETUP_DONE).exists():
            return Outcome(error=f"your answer cell ran past the time limit ({timeout:.0f} s) and was stopped")
        return Outcome(error=f"the lesson's set-up did not finish within {timeout:.0f} s", student_fault=False)
    log = log.decode(errors="replace")
    outcome = _outcome(out, log, process.returncode)
    outcome.seconds = phase_seconds(out / TIMINGS, spawned, time.time())
    return outcome


def phase_seconds(path: Path, spawned: float, ended: float) -> dict:
    """Seconds of each of ``PHASES`` (and of the exit) from the times the process wrote; {} when it wrote none."""
    try:
        ends = [float(end) for end in json.loads(path.read_text())]
    except (OSError, ValueError, TypeError):
        return {}
    starts = [spawned, *ends]
    seconds = {phase: end - start for phase, start, end in zip(PHASES, starts, ends)}
    return {**seconds, "exit": ended - starts[len(seconds)]} if len(seconds) == len(PHASES) else seconds


def _outcome(out: Path, log: str, returncode: int) -> Outcome:
    """What the finished process left in ``out``: its crossed answer, or why there is none."""
    if not (out / SETUP_DONE).exists():
        tail = [line for line in log.splitlines() if line.strip()][-1:] or ["no output"]
        return Outcome(error=f"the lesson's set-up failed (exit {returncode}): {tail[0][:200]}",
                       student_fault=False)
    for name in ("answer.json", "error.json"):
        try:
            found = json.loads((out / name).read_text())
        except (OSError, ValueError):
            continue
        if name == "answer.json" and isinstance(found, dict):
            return Outcome(crossed=found)
        if name == "error.json" and isinstance(found, dict):
            return Outcome(error=str(found.get("error", ""))[:400])
    if returncode in (-signal.SIGKILL, -signal.SIGSEGV) or "MemoryError" in log:
        return Outcome(error="your answer's process died (out of memory, or killed) before handing over its answer")
    return Outcome(error=f"your answer cell ended the process (exit code {returncode}) before it handed "
                         "over its answer")


def _inside(lesson: str, cells_path: str, out: str) -> int:
    """In the sandbox: the set-up cell, the answer cells, then the answer crossed to data in ``out``."""
    from IPython.core.interactiveshell import InteractiveShell

    from . import verdict
    from .lessons import load

    cells, folder = json.loads(Path(cells_path).read_text()), Path(out)
    ends = [time.time()]

    def ended() -> None:
        ends.append(time.time())
        (folder / TIMINGS).write_text(json.dumps(ends))

    shell = InteractiveShell.instance()
    result = shell.run_cell(cells["setup"], store_history=False)
    if not result.success:
        print(f"the set-up cell failed: {result.error_before_exec or result.error_in_exec!r}")
        return 3
    (folder / SETUP_DONE).touch()
    ended()
    for index, source in enumerate(cells["answer"], 1):
        result = shell.run_cell(source, store_history=False)
        error = result.error_before_exec or result.error_in_exec
        if error is not None:
            message = f"your answer cell raised {type(error).__name__}: {str(error)[:300]}"
            (folder / "error.json").write_text(json.dumps({"error": message}))
            return 0
    ended()
    name = load(lesson).ANSWER
    if name not in shell.user_ns:
        (folder / "error.json").write_text(json.dumps({"error": f"your answer cells define no `{name}`"}))
        return 0
    try:
        crossed = verdict.cross(lesson, shell.user_ns[name])
    except BaseException as error:  # the student's function runs here: anything may come out of it
        message = f"calling {name} failed: {type(error).__name__}: {str(error)[:300]}"
        (folder / "error.json").write_text(json.dumps({"error": message}))
        traceback.print_exc()
        return 0
    (folder / "answer.json").write_text(json.dumps(crossed))
    ended()
    return 0


def exit_now(code: int) -> None:
    """End the process without tearing TensorFlow down (a second or two): what it hands over is on disk."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_now(_inside(*sys.argv[1:4]))
