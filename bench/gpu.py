"""The lessons on an accelerator, through Keras on JAX: does the workbook behave there as on TensorFlow's CPU?

    KERAS_BACKEND=jax XLA_FLAGS=--xla_gpu_deterministic_ops=true python bench/gpu.py OUT.json LESSON ...
        [--seeds 20] [--chunk 5] [--budget SECONDS]

For each lesson named (as ``tlclinic.lessons.discover()`` names them): its ``demo()`` (the broken program and its
symptom, the fix and the graded check on it, as ``make demo`` measures them); determinism (the lesson's
calibration at seed 0, twice: the largest difference between the two runs' metrics); then its ``calibrate`` over
seeds 0 to ``--seeds``-1, ``--chunk`` seeds at a time for all the lessons, each row set against the committed CPU
table's verdict (``calibration/onednn-0.md``; ``as_expected``: a valid answer passes every seed, a broken one
none).  With ``--budget`` SECONDS, after the first chunk each chunk takes as many seeds as should end within the
budget at the pace measured so far, and none starts that could not finish one seed.  Every number comes from the
lessons' own functions; nothing here is a new threshold.  The JSON is rewritten after every step, so a run cut
short still leaves what it measured.  It runs on a CPU too (jax[cpu]).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")  # before Keras loads (the command line sets both; these are defaults)
os.environ.setdefault("XLA_FLAGS", "--xla_gpu_deterministic_ops=true")
os.environ.setdefault("TQDM_DISABLE", "1")
sys.path.append(str(Path(__file__).resolve().parent.parent))  # the workbook, after PYTHONPATH

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

from tlclinic.calibration import Calibration, merged  # noqa: E402
from tlclinic.lessons import discover, select  # noqa: E402


def timed(f, *args):
    start = time.perf_counter()
    result = f(*args)
    return result, round(time.perf_counter() - start, 2)


def cpu_verdicts(lesson) -> dict[str, bool]:
    """head -> as expected, read off the committed CPU table: a valid answer passed every seed, a broken one none."""
    verdicts = {}
    for line in (Path(lesson.__file__).parent / "calibration" / "onednn-0.md").read_text().splitlines():
        if line.startswith("| ") and not line.startswith("| head "):
            head, should, passed = line.strip("| ").split(" | ")[:3]
            done, seeds = passed.split("/")
            verdicts[head] = should == "measured only" or done == (seeds if should == "pass" else "0")
    return verdicts


def table(lesson, rows: list[Calibration]) -> dict:
    cpu = cpu_verdicts(lesson)
    found = [{"head": r.head, "should_pass": r.should_pass, "passed": f"{r.passed}/{r.runs}",
              "metric_min": r.metric_range[0], "metric_max": r.metric_range[1], "as_expected": r.as_expected,
              "agrees_with_cpu": r.as_expected == cpu.get(r.head), "failures": list(r.failures.values())[:2]}
             for r in rows]
    return {"metric": lesson.CALIBRATION_METRIC, "rows": found, "all_agree_with_cpu": all(
        row["agrees_with_cpu"] for row in found)}


def determinism(lesson) -> dict:
    """The lesson's calibration at seed 0, twice: every answer's metric the same both times?"""
    first, second = lesson.calibrate(range(1)), lesson.calibrate(range(1))
    differences = [abs(a - b) for x, y in zip(first, second) for a, b in zip(x.values, y.values)
                   if not (np.isnan(a) and np.isnan(b))]  # NaN both times: a seed whose training raised both times
    return {"answers": len(first), "max_abs_difference": max(differences, default=float("nan"))}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, help="where the JSON goes")
    parser.add_argument("lessons", nargs="+", help="lesson names, as tlclinic.lessons.discover() gives them")
    parser.add_argument("--seeds", type=int, default=20, help="seeds of each calibration (default 20)")
    parser.add_argument("--chunk", type=int, default=5, help="seeds calibrated at a time (default 5); with --budget, "
                        "the first chunk's size")
    parser.add_argument("--budget", type=float, default=0, help="seconds: after the first chunk, each chunk takes as "
                        "many seeds as should end within this (default: no limit)")
    args = parser.parse_args(argv)
    lessons = {name: discover()[name] for name in select(args.lessons, parser.error)}
    start, devices = time.perf_counter(), jax.devices()
    report = {"device": {"devices": [str(d) for d in devices], "kind": devices[0].device_kind,
                         "platform": devices[0].platform, "backend": keras.backend.backend(),
                         "xla_flags": os.environ.get("XLA_FLAGS", ""),
                         "matmul_precision": jax.config.jax_default_matmul_precision},  # None: XLA's default
              "versions": {"python": platform.python_version(), "jax": jax.__version__, "keras": keras.__version__,
                           "numpy": np.__version__},
              "seeds": args.seeds, "lessons": {name: {} for name in lessons}}

    def save(step: str) -> None:
        report["seconds"] = round(time.perf_counter() - start, 1)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1, default=str) + "\n")
        print(f"[{report['seconds']:7.1f} s] {step}", flush=True)

    save(f"device {report['device']['kind']} ({report['device']['platform']}), versions {report['versions']}")
    for name, lesson in lessons.items():
        result = report["lessons"][name]
        result["prepare_seconds"] = timed(lesson.prepare)[1]
        shown, seconds = timed(lesson.demo)
        result["demo"] = {"seconds": seconds, "reproduced": shown.reproduced, "converged": shown.converged,
                          "symptom": shown.symptom, "metric": shown.metric, "reason": shown.reason}
        save(f"{name}: demo {seconds} s, reproduced {shown.reproduced}, fix converged {shown.converged}: "
             f"{shown.symptom}")
        result["determinism"], seconds = timed(determinism, lesson)
        save(f"{name}: calibration at seed 0 twice: max |difference| {result['determinism']['max_abs_difference']:.3g}")
    rows, per_seed, done = {name: [] for name in lessons}, {}, 0
    while done < args.seeds:  # a few seeds at a time for every lesson: a run short of time still has every table
        size = args.chunk
        if args.budget and per_seed:
            size = int((args.budget - (time.perf_counter() - start)) // sum(per_seed.values()))
            if size < 1:
                report["stopped"] = f"after {done} seeds: one more would end after {args.budget:.0f} s (--budget)"
                break
        part = range(done, min(done + size, args.seeds))
        for name, lesson in lessons.items():
            later, seconds = timed(lesson.calibrate, part)
            rows[name] = merged(rows[name], later)
            per_seed[name] = seconds / len(part)
            report["lessons"][name]["calibration"] = table(lesson, rows[name])
            save(f"{name}: calibrate(seeds {part.start} to {part.stop - 1}) {seconds} s, all agree with the CPU "
                 f"table so far: {report['lessons'][name]['calibration']['all_agree_with_cpu']}")
        done = part.stop
    for name in lessons:
        print(name)
        for row in report["lessons"][name].get("calibration", {}).get("rows", []):
            print(f"    {row['passed']:>5} {'pass' if row['should_pass'] else 'fail'}  "
                  f"{row['metric_min']:.3f}-{row['metric_max']:.3f}  "
                  f"{'agrees' if row['agrees_with_cpu'] else 'DIFFERS from CPU'}  {row['head']}")
    report["calibrated_seeds"] = done
    report["ok"] = done == args.seeds and all(
        r["demo"]["reproduced"] and r["demo"]["converged"] and r["calibration"]["all_agree_with_cpu"]
        for r in report["lessons"].values())
    save(f"done: ok {report['ok']}")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
