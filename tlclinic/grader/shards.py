"""Which submissions a run grades, and what it keeps of them: shards of a course (share K of N of the students),
the manifest (each submission's content hash and rows: a later run into the same folder reuses what did not change)
and the merge of the shards' outputs into one course."""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import NamedTuple

from .. import __version__
from ..lessons import source_notebook as source_path
from ..results import identity as results_identity
from .reports import write_grades
from .submissions import Row, Submission, lesson_named

MANIFEST = "manifest.json"


class Shard(NamedTuple):
    """Share ``k`` of ``n`` of a course's submissions, by student; ``1/1`` is the whole course."""

    k: int
    n: int

    def __str__(self) -> str:
        return f"{self.k}/{self.n}"

    def holds(self, student: str) -> bool:
        """Whether ``student``'s submissions are in this share: a hash of the name, the same on every machine
        and every run (Python's ``hash`` of a string is not)."""
        return int(hashlib.sha256(student.encode()).hexdigest(), 16) % self.n == self.k - 1


WHOLE = Shard(1, 1)


def parse_shard(text: str) -> Shard:
    """``K/N`` with 1 <= K <= N (``--shard``, and a manifest's ``shard``); ``ArgumentTypeError`` otherwise."""
    k, slash, n = text.partition("/")
    if not (slash and k.isdigit() and n.isdigit()):
        raise argparse.ArgumentTypeError(f"{text!r} is not K/N (share K of N, e.g. 1/2)")
    if not 1 <= int(k) <= int(n):
        raise argparse.ArgumentTypeError(f"{text!r}: K must be from 1 to N (e.g. 1/{max(int(n), 2)})")
    return Shard(int(k), int(n))


def find_submissions(target: Path) -> list[Path]:
    target = Path(target)
    if target.is_file():
        return [target]
    if not target.is_dir():
        raise SystemExit(f"no such file or folder: {target}")
    found = sorted(p for p in target.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    if not found:
        raise SystemExit(f"no .ipynb submissions under {target}")
    return found


def root_of(target: Path) -> Path:
    """The folder submissions' paths are relative to (and a student's folder sits in)."""
    return Path(target) if Path(target).is_dir() else Path(target).parent


def relative(path: Path, root: Path) -> str:
    """A submission's name in the manifest: its path in the folder graded, the same on every machine."""
    return path.relative_to(root).as_posix()


def grading_identity(timeout: int, sandboxed: bool) -> str:
    """What every submission's grade depends on besides its notebook and its lesson's source: the grader's code
    and the lessons' (hashed, as kept results are), the weights, data, the kernels, Keras and its backend's
    versions (``results.identity``), and the options that can change a verdict (``--timeout``, the sandbox)."""
    parts = {"kept results": results_identity(), "tlclinic": __version__, "timeout": timeout, "sandboxed": sandboxed}
    return json.dumps(parts, sort_keys=True)


def submission_key(path: Path, identity: str) -> str:
    """The content hash of a submission: its notebook, its lesson's source notebook, and ``identity``."""
    digest = hashlib.sha256(identity.encode())
    if lesson := lesson_named(path):
        digest.update(source_path(lesson).read_bytes())
    digest.update(path.read_bytes())
    return digest.hexdigest()


def reusable(path: Path, key: str, entry: dict | None) -> Submission | None:
    """The last run's rows for a submission, when it had the same content hash and every row was graded
    (a machine that failed last time gets another try)."""
    if entry is None or entry["hash"] != key or any(r["status"] != "graded" for r in entry["rows"]):
        return None
    return Submission(path, entry["student"], entry["lesson"], rows=[Row(**r) for r in entry["rows"]], key=key,
                      reused=True)


def read_manifest(out: Path) -> dict:
    """The manifest an earlier run wrote in ``out`` (empty when there is none)."""
    path = Path(out) / MANIFEST
    return json.loads(path.read_text()) if path.exists() else {}


def manifest_entries(subs: list[Submission], root: Path) -> dict[str, dict]:
    """Each submission by its path in the folder: its student, lesson, content hash and rows."""
    return {relative(sub.path, root): {"student": sub.student, "lesson": sub.lesson, "hash": sub.key,
                                       "rows": [asdict(r) for r in sub.rows]} for sub in subs}


def write_manifest(out: Path, shard: Shard, entries: dict[str, dict], merged: list[str] | None = None) -> None:
    """``manifest.json``: the shard graded (``merged``: the shards a merge combined) and every submission's entry.

    grades.json stays the plain list of rows its readers expect; what a later run or a merge needs is here.
    """
    manifest = {"shard": str(shard), **({"merged": merged} if merged else {}), "submissions": entries}
    (Path(out) / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")


class MergeRefused(ValueError):
    """Shard outputs that do not add up to one course: missing, given twice, of different N, or overlapping."""


@dataclass
class ShardOutput:
    """One shard's ``--out`` folder, as its manifest describes it."""

    folder: Path
    shard: Shard
    submissions: dict[str, dict]


def read_shard(folder: Path) -> ShardOutput:
    """A shard's output folder: which shard it is and its submissions, from its manifest."""
    path = Path(folder) / MANIFEST
    if not path.exists():
        raise MergeRefused(f"{folder} has no {MANIFEST}: it is not the --out folder of a tlclinic-grade run")
    manifest = json.loads(path.read_text())
    try:
        shard = parse_shard(manifest["shard"])
    except argparse.ArgumentTypeError as error:
        raise MergeRefused(f"{path}: shard {error}") from error
    return ShardOutput(Path(folder), shard, manifest["submissions"])


def check_shards(outputs: list[ShardOutput]) -> None:
    """Refuse shards of different N, a shard given twice, or a shard of the N missing."""
    if len({o.shard.n for o in outputs}) > 1:
        raise MergeRefused("shards of different N: " + ", ".join(f"{o.folder} is {o.shard}" for o in outputs))
    seen: dict[Shard, Path] = {}
    for o in outputs:
        if o.shard in seen:
            raise MergeRefused(f"shard {o.shard} given twice: {seen[o.shard]} and {o.folder}")
        seen[o.shard] = o.folder
    n = outputs[0].shard.n
    if missing := [str(Shard(k, n)) for k in range(1, n + 1) if Shard(k, n) not in seen]:
        raise MergeRefused(f"shard(s) {', '.join(missing)} missing: given only "
                           + ", ".join(f"{o.shard} ({o.folder})" for o in outputs))


def combine(outputs: list[ShardOutput]) -> dict[str, dict]:
    """Every shard's submissions as one manifest's, in the order one run over the whole folder gives; refuses a
    student's lesson graded in two shards (shards of different folders, or of a folder that changed)."""
    combined: dict[str, dict] = {}
    graded_in: dict[tuple[str, str], ShardOutput] = {}
    for o in outputs:
        for name, entry in o.submissions.items():
            first = graded_in.setdefault((entry["student"], entry["lesson"]), o)
            if first is not o:
                raise MergeRefused(f"{entry['student']} {entry['lesson']} is graded in two shards: "
                                   f"{first.shard} ({first.folder}) and {o.shard} ({o.folder})")
            combined[name] = entry
    return dict(sorted(combined.items(), key=lambda item: PurePosixPath(item[0])))


def merge(folders: list[Path], out: Path) -> list[Row]:
    """One course's grades in ``out`` from its shards' outputs: grades.json, grades.csv, the feedback pages
    (copied) and a manifest of the whole course (shard ``1/1``: a run over the whole folder into ``out`` reuses
    the rows of what did not change).  Its rows."""
    if any(Path(f).resolve() == Path(out).resolve() for f in folders):
        raise MergeRefused(f"--out {out} is one of the folders merged: give another")
    outputs = [read_shard(f) for f in folders]
    check_shards(outputs)
    entries = combine(outputs)
    rows = [Row(**r) for entry in entries.values() for r in entry["rows"]]
    write_grades(rows, out)
    shutil.rmtree(out / "feedback", ignore_errors=True)  # only the merged shards' pages
    for o in outputs:
        if (o.folder / "feedback").is_dir():
            shutil.copytree(o.folder / "feedback", out / "feedback", dirs_exist_ok=True)
    write_manifest(out, WHOLE, entries, merged=[str(shard) for shard in sorted(o.shard for o in outputs)])
    return rows
