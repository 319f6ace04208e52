"""A process that can harm nothing and read nothing it does not need: how the grader runs what it does not trust.

Both the student's answer (``grader.sandbox``) and the verifier that judges it (``verdict``) run through ``run``
(or ``start``, then ``Started.finish``):

* **bubblewrap**: a new mount, PID, IPC, UTS and network namespace; the Python installation, the system's
  libraries and the workbook mounted read-only, the workbook's private folders (``hidden``) masked; of ``/etc``
  only the files listed in ``ETC`` (no ``shadow``, no ``ssh``, no ``hosts``), and a ``passwd`` naming one user;
  no home folder; a private ``/tmp`` and ``/dev/shm`` of bounded size.
* **an unprivileged user**: a grader running as root starts bubblewrap as root (it must read the Python
  installation wherever it lives), but the first thing the process does inside (``enter``), before any other
  code, is to drop to a user id of its own, chosen at random for each process, with no capabilities and no way
  back (``no_new_privs``).  Files only root may read stay unreadable.  A grader that is not root runs bubblewrap
  in a user namespace, as itself.
* **bounded resources**: memory (``RLIMIT_DATA``, which covers ``malloc`` and anonymous ``mmap``), processes and
  threads (``RLIMIT_NPROC``, per user id and so per sandbox; once the set-up is done, lowered to what the process
  runs plus ``SPARE_TASKS``), the size of any file it writes, the size of each ``tmpfs``, and the time (the whole
  process group is killed at ``timeout``).
* **nothing from the environment** but what ``KEPT_ENVIRONMENT`` names.
* **channels the process cannot forge**: its input arrives on stdin (``start`` may start it before that input
  exists: the verifier imports Keras while the answer is still being taken); it hands its result over a pipe
  (``result``); and the *set-up* pipe says that the trusted part of the work is done.  The process writes to that
  pipe and closes it before it runs any code it does not trust, so nothing that code does (deleting a file,
  exiting, crashing, sleeping) can take back that the set-up finished: whose fault a failure is rests on it.

    python -m tlclinic.jail        (prints what ``run`` would start, and tries it: a self-test)
"""
from __future__ import annotations

import ctypes
import json
import os
import resource
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The /etc files a grading run opens (``strace -f -e trace=%file`` on one, every lesson): the dynamic linker's
# cache, the time zone, and fontconfig's (matplotlib runs fc-list); ``passwd`` and ``group`` are made up
# (``_identity_files``), for the name lookups of the user it runs as.  Every other file of /etc (shadow, ssh keys,
# hosts, credentials) is absent.
ETC = ("ld.so.cache", "localtime", "nsswitch.conf", "fonts")
KEPT_ENVIRONMENT = ("PATH", "LANG", "LC_ALL", "TF_ENABLE_ONEDNN_OPTS", "KERAS_BACKEND", "CUDA_VISIBLE_DEVICES",
                    "XLA_FLAGS", "TLCLINIC_DATA")
PRIVATE = ("solutions", "build", ".git", "autograde")  # folders of the workbook no jailed process may read
MEMORY_SIGNS = ("MemoryError", "bad_alloc", "Cannot allocate memory", "ResourceExhausted", "OOM when allocating")
USER = "student"
UNPRIVILEGED_IDS = (10**8, 2 * 10**8)  # a random user id from this range per process: no other process has it

APPARMOR_HINT = (
    "bubblewrap could not create its namespaces. On Ubuntu 23.10 and newer (GitHub's ubuntu-latest runners), "
    "AppArmor restricts unprivileged user namespaces: run `sudo sysctl -w "
    "kernel.apparmor_restrict_unprivileged_userns=0` for this machine, or grade as root (`sudo make grade ...`), "
    "or install an AppArmor profile that allows bwrap `userns` (see docs/grade-workflow.yml)")


class SandboxUnavailable(RuntimeError):
    """bubblewrap is not installed or cannot start here."""


@dataclass(frozen=True)
class Limits:
    """What one process may use."""

    memory: int  # bytes of data (RLIMIT_DATA)
    # processes and threads (RLIMIT_NPROC): TensorFlow's pools grow with the cores (26 threads at most on 2 cores)
    processes: int = 64 + 8 * (os.cpu_count() or 1)
    file_size: int = 64 * 2**20  # bytes of any one file it writes (RLIMIT_FSIZE)
    tmp: int = 256 * 2**20  # bytes of its /tmp and of its /dev/shm, each

    def as_arguments(self, sandboxed: bool) -> list[str]:
        """For ``enter``.  Unsandboxed, the process runs as the grader's user, whose other processes would count
        against a process limit: it gets none."""
        return [f"--limits={self.memory},{self.processes if sandboxed else 0},{self.file_size}"]


@dataclass
class Finished:
    """What came back from a process ``run`` started."""

    result: bytes = b""  # what it wrote on its result pipe (at most ``MAX_RESULT`` bytes)
    log: str = ""  # the end of what it printed (stdout and stderr together)
    returncode: int | None = None  # None: killed at the time limit
    setup_done: bool = False  # it said, before running code it does not trust, that the trusted part was done
    overflowed: bool = False  # it wrote more than ``MAX_RESULT`` on its result pipe and was stopped
    seconds: float = 0.0  # from its start (``start``: a process started early counts its wait for input)
    started: float = field(default_factory=time.time)

    @property
    def timed_out(self) -> bool:
        return self.returncode is None


MAX_RESULT = 32 * 2**20
LOG_TAIL = 64 * 2**10


def bwrap_command(hidden: list[Path] = (), limits: Limits | None = None, etc: Path | None = None) -> list[str]:
    """The bubblewrap wrapper: read-only system and workbook, ``PRIVATE`` and ``hidden`` folders masked, nothing
    writable but a bounded /tmp and /dev/shm.  ``etc``: a folder holding the ``passwd`` and ``group`` to show."""
    bwrap = shutil.which("bwrap")
    if not bwrap:
        raise SandboxUnavailable("bubblewrap is needed to grade untrusted notebooks: install it with "
                                 "`apt-get install bubblewrap` (or grade trusted notebooks with --no-sandbox)")
    size = str((limits or Limits(memory=0)).tmp)
    namespaces = (["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
                   "--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]  # for ``enter`` only
                  if os.geteuid() == 0 else ["--unshare-all", "--cap-drop", "ALL"])
    command = [bwrap, "--die-with-parent", "--new-session", *namespaces,
               "--size", size, "--tmpfs", "/tmp", "--dev", "/dev", "--size", size, "--tmpfs", "/dev/shm",
               "--proc", "/proc"]  # first: the workbook may live under /tmp
    for path in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", sys.base_prefix, sys.prefix, str(ROOT)):
        if Path(path).exists():
            command += ["--ro-bind", path, path]
    for name in ETC:
        if Path("/etc", name).exists():
            command += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    for name in ("passwd", "group"):
        if etc is not None:
            command += ["--ro-bind", str(etc / name), f"/etc/{name}"]
    private = [ROOT / name for name in PRIVATE]
    masked = private + [Path(p) for p in hidden if not any(Path(p).resolve().is_relative_to(f) for f in private)]
    for path in masked:  # a hidden folder inside a private one is masked with it (and cannot be made in it)
        if Path(path).exists():
            command += ["--tmpfs", str(path), "--remount-ro", str(path)]
    bound = {Path(command[i + 2]) for i, arg in enumerate(command) if arg == "--ro-bind"}
    made = sorted({parent for path in bound for parent in path.parents} - bound - {Path("/")})
    for folder in made:  # bubblewrap makes the folders above a mount point for root alone
        command += ["--chmod", "0755", str(folder)]
    return command + ["--chmod", "1777", "/tmp", "--chmod", "1777", "/dev/shm", "--chdir", "/tmp", "--"]


def check_available() -> None:
    """Start the sandbox once, empty: raise ``SandboxUnavailable`` saying what to do when it cannot start."""
    command = [*bwrap_command(), "/bin/true"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    if done.returncode:
        said = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        raise SandboxUnavailable(f"{said}. {APPARMOR_HINT}")


def _identity_files(folder: Path, uid: int) -> Path:
    """``passwd`` and ``group`` naming one user, ``USER``, with id ``uid`` and home /tmp."""
    (folder / "passwd").write_text(f"{USER}:x:{uid}:{uid}:{USER}:/tmp:/bin/sh\n")
    (folder / "group").write_text(f"{USER}:x:{uid}:\n")
    for name in ("passwd", "group"):
        (folder / name).chmod(0o644)
    return folder


def _environment(uid: int | None, home: str, given: dict[str, str]) -> dict[str, str]:
    """Only the variables ``KEPT_ENVIRONMENT`` names and those ``given``, and the user to become (``enter``) when
    sandboxed."""
    kept = {key: value for key, value in os.environ.items() if key in KEPT_ENVIRONMENT}
    return {**kept, **given, "HOME": home, "MPLCONFIGDIR": home, "USER": USER, "LOGNAME": USER,
            **({"TLCLINIC_UID": str(uid)} if uid is not None else {}),
            "TF_CPP_MIN_LOG_LEVEL": "3", "TQDM_DISABLE": "1", "PYTHONDONTWRITEBYTECODE": "1"}


def run(module: str, arguments: list[str], stdin: bytes, timeout: float, limits: Limits, hidden: list[Path] = (),
        sandboxed: bool = True, environment: dict[str, str] | None = None) -> Finished:
    """``python -m module --result-fd R --setup-fd S [limits] arguments`` in the sandbox, fed ``stdin``, stopped
    (its whole process group) at ``timeout`` seconds.  Unsandboxed (``--no-sandbox``, for trusted notebooks only)
    it runs as a plain child process with the same pipes and limits but the grader's files and user.
    ``environment``: variables to set in it, besides those of ``KEPT_ENVIRONMENT``."""
    return start(module, arguments, limits, hidden, sandboxed, environment).finish(stdin, timeout)


def start(module: str, arguments: list[str], limits: Limits, hidden: list[Path] = (),
          sandboxed: bool = True, environment: dict[str, str] | None = None) -> "Started":
    """``run``'s process started now, its input given later (``Started.finish``): a process that imports what it
    needs before it reads stdin (the verifier) does so while the grader is still preparing that input."""
    uid = UNPRIVILEGED_IDS[0] + secrets.randbelow(UNPRIVILEGED_IDS[1] - UNPRIVILEGED_IDS[0])
    tmp, ours, theirs = tempfile.TemporaryDirectory(prefix="tlclinic-jail-"), [], []
    try:
        wrapper = bwrap_command(hidden, limits, _identity_files(Path(tmp.name), uid)) if sandboxed else []
        for _ in ("setup", "result"):
            read, write = os.pipe()
            ours.append(read)
            theirs.append(write)
        setup_w, result_w = theirs
        command = [*wrapper, sys.executable, "-m", module, f"--result-fd={result_w}", f"--setup-fd={setup_w}",
                   *limits.as_arguments(sandboxed), *arguments]
        variables = _environment(uid if sandboxed else None, "/tmp" if sandboxed else tmp.name, environment or {})
        # The limits are set by ``enter``, the process's first act, before it imports anything heavy: no
        # ``preexec_fn``, whose Python code runs between fork and exec, which Python's documentation calls unsafe in
        # a process with threads (a grader grading several answers at once), and which on JAX warns of a deadlock
        # in every notebook cell that runs a check in a fresh process.
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, env=variables, start_new_session=True,
                                   pass_fds=(setup_w, result_w), cwd=tmp.name)
    except BaseException:
        for fd in ours:
            os.close(fd)
        tmp.cleanup()
        raise
    finally:
        for fd in theirs:
            os.close(fd)
    return Started(process, dict(zip(ours, ("setup", "result"))), tmp, sandboxed)


@dataclass
class Started:
    """A jailed process started by ``start``, waiting for its input."""

    process: subprocess.Popen
    pipes: dict[int, str]  # our ends of its set-up and result pipes
    tmp: tempfile.TemporaryDirectory
    sandboxed: bool
    started: float = field(default_factory=time.time)

    def finish(self, stdin: bytes, timeout: float) -> Finished:
        """Feed ``stdin`` and collect what the process hands over, stopping it (its whole process group) at
        ``timeout`` seconds from now."""
        finished = Finished(started=self.started)
        try:
            _exchange(self.process, stdin, self.pipes, finished, timeout)
        finally:
            self.cancel()  # the pipes; and the process too, when the exchange failed before it ended
        finished.seconds = time.time() - finished.started
        if (self.sandboxed and finished.returncode == 1 and not finished.setup_done
                and "bwrap:" in finished.log):
            raise SandboxUnavailable(f"{finished.log.strip().splitlines()[-1]}. {APPARMOR_HINT}")
        return finished

    def cancel(self) -> None:
        """Stop the process (unless it has ended) and release its pipes and folder: ``finish`` ends this way, and
        a process whose input was never needed is stopped this way."""
        if self.process.poll() is None:
            _kill(self.process)
            self.process.wait()
        for fd in self.pipes:
            os.close(fd)
        self.pipes = {}
        self.tmp.cleanup()


def _exchange(process: subprocess.Popen, stdin: bytes, pipes: dict[int, str], finished: Finished,
              timeout: float) -> None:
    """Feed ``stdin``, read the log's tail, the set-up pipe and the result (bounded) until the process ends or
    ``timeout``; then kill what is left of its process group."""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ, "log")
        for fd, name in pipes.items():
            selector.register(fd, selectors.EVENT_READ, name)
        if stdin:
            selector.register(process.stdin, selectors.EVENT_WRITE, "stdin")
        else:
            process.stdin.close()
        pending, log, result, setup = memoryview(stdin), bytearray(), bytearray(), bytearray()
        while selector.get_map() and (left := deadline - time.monotonic()) > 0:
            for key, _ in selector.select(min(left, 1.0)):
                if key.data == "stdin":
                    try:
                        pending = pending[os.write(key.fd, pending[:65536]):]
                    except BrokenPipeError:
                        pending = pending[:0]
                    if not pending:
                        selector.unregister(key.fileobj)
                        process.stdin.close()
                    continue
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    selector.unregister(key.fileobj)
                elif key.data == "log":
                    log = (log + chunk)[-LOG_TAIL:]
                elif key.data == "setup":
                    setup += chunk[:64]
                elif len(result) + len(chunk) <= MAX_RESULT:
                    result += chunk
                else:
                    finished.overflowed = True
                    selector.unregister(key.fileobj)
                    break
            if finished.overflowed:
                break
        selector_left = bool(selector.get_map())
    ended = not selector_left and time.monotonic() < deadline and not finished.overflowed
    if ended:  # every pipe closed: the process has ended or is ending
        try:
            process.wait(timeout=max(0.1, min(5.0, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            ended = False
    _kill(process)  # what is left of its process group (a student's forked children, unsandboxed)
    returncode = process.wait()
    finished.returncode = returncode if ended or finished.overflowed else None
    finished.log, finished.result = log.decode(errors="replace"), bytes(result)
    finished.setup_done = bytes(setup).startswith(SETUP_DONE)


def _kill(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if process.stdin and not process.stdin.closed:
        try:
            process.stdin.close()
        except BrokenPipeError:
            pass


SETUP_DONE = b"set-up done\n"
# Processes and threads untrusted code may start after the set-up (``Inside.setup_done``): enough for the thread
# pools of TensorFlow, should the answer import it and run its ops (about 20 on 2 cores), not for a fork bomb.
SPARE_TASKS = 16 + 4 * (os.cpu_count() or 1)


# ---- inside -------------------------------------------------------------------------------------------------

@dataclass
class Inside:
    """The process's side of the channels ``run`` opened, after ``enter``."""

    result_fd: int
    setup_fd: int
    arguments: list[str]

    def setup_done(self) -> None:
        """Say that the trusted part is done, and close the pipe: call it before running untrusted code.

        The process limit drops to the threads running now plus ``SPARE_TASKS``, room for TensorFlow's thread pools
        should the answer run its ops but a third of the set-up's ``Limits.processes`` on 2 cores, so that a fork
        bomb fills a smaller table and is stopped sooner (before, on a busy machine, it spun until the time limit)."""
        limit = resource.getrlimit(resource.RLIMIT_NPROC)[0]
        if limit != resource.RLIM_INFINITY:  # unsandboxed: the grader's user, whose processes it does not limit
            running = len(os.listdir("/proc/self/task"))  # (before the pipe says so: a failure here is the set-up's)
            resource.setrlimit(resource.RLIMIT_NPROC, (min(limit, running + SPARE_TASKS),) * 2)
        if self.setup_fd >= 0:
            os.write(self.setup_fd, SETUP_DONE)
            os.close(self.setup_fd)
            self.setup_fd = -1

    def hand_over(self, data: dict) -> None:
        """Write ``data`` (JSON) on the result pipe and close it."""
        self.send(data)
        os.close(self.result_fd)

    def send(self, data: dict) -> None:
        """Write one line of JSON on the result pipe, keeping it open (the verifier's verdicts, one per answer)."""
        payload = memoryview((json.dumps(data) + "\n").encode())
        while payload:
            payload = payload[os.write(self.result_fd, payload):]


def enter(argv: list[str]) -> Inside:
    """The first thing a jailed process does: read its channels and limits from ``argv``, set the limits, and (when
    it starts as root in the sandbox) drop to its own unprivileged user, with no capabilities and no new ones."""
    options = dict(arg[2:].split("=", 1) for arg in argv if arg.startswith("--") and "=" in arg)
    rest = [arg for arg in argv if not (arg.startswith("--") and "=" in arg)]
    memory, processes, file_size = (int(n) for n in options["limits"].split(","))
    for limit, value in ((resource.RLIMIT_DATA, memory), (resource.RLIMIT_NPROC, processes),
                         (resource.RLIMIT_FSIZE, file_size), (resource.RLIMIT_CORE, 0)):
        if value or limit == resource.RLIMIT_CORE:
            resource.setrlimit(limit, (value, value))
    if os.geteuid() == 0 and "TLCLINIC_UID" in os.environ:
        uid = int(os.environ["TLCLINIC_UID"])
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    ctypes.CDLL(None, use_errno=True).prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS: no setuid binary gives root back
    return Inside(int(options["result-fd"]), int(options["setup-fd"]), rest)


def exit_now(code: int) -> None:
    """End the process without tearing TensorFlow down (a second or two): what it hands over is already sent."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
