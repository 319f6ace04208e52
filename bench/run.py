"""The workbook's benchmark: ``make bench``.  Speed and memory, measured in one run on this machine.

    python bench/run.py [--submissions 20] [--flips 20] [--epochs 5] [--out build/bench.json]

1. Training the head: question 000's program (the frozen backbone runs on the images at every step, batch 5)
   against the workbook's way (features extracted once, the head trained on them), same head, same seed,
   same epochs.  Feature extraction is included in the workbook's time.
2. Live-control latency: setting each lesson's control in code, to a retrained head and a redrawn figure.
3. Each lesson's solution notebook executed headless: wall time and the kernel's peak memory.
4. Grading: one submission, then a folder of submissions with --jobs 1 and --jobs 2.
Prints a table and writes the figures to build/bench.json.  Timings live here, never in tests.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import keras
import numpy as np

from tlclinic import autograde, data, device
from tlclinic.backbone import get_backbone
from tlclinic.console import quiet
from tlclinic.features import extract
from tlclinic.heads import question000_classifier
from tlclinic.lessons import discover, release_notebook, source_notebook
from tlclinic.symptoms import accuracy
from tlclinic.training import fit_shuffled, train_head

TARGETS = {"speed-up": 20.0, "flip p50 s": 0.5, "flip p95 s": 1.0, "notebook s": 60.0, "one submission s": 15.0,
           "kernel peak MB": 1536.0}


def question_program_vs_cached(epochs: int, batch_size: int = 5, seed: int = 0) -> dict:
    """Question 000's way and the workbook's way of training the (fixed) head: wall time and test accuracy."""
    build = question000_classifier(1, "sigmoid", "binary_crossentropy")  # its head, output fixed
    (images, labels), (test_images, test_labels) = data.load("shapes", "train"), data.load("shapes", "test")
    backbone = get_backbone("mini_inception")
    with quiet():
        start = time.perf_counter()
        keras.utils.set_random_seed(seed)
        head = build(backbone.feature_dim)
        inputs = keras.Input(images.shape[1:])
        model = keras.Model(inputs, head(backbone.model(inputs, training=False)))
        optimizer = head.optimizer
        model.compile(optimizer=type(optimizer).from_config(optimizer.get_config()), loss=head.loss)
        fit_shuffled(model, backbone.preprocess(images), labels, epochs, batch_size, seed)
        question_accuracy = accuracy(model.predict(backbone.preprocess(test_images), verbose=0), test_labels)
        question_seconds = time.perf_counter() - start

        start = time.perf_counter()
        train_set = extract(backbone, images), labels
        test_set = extract(backbone, test_images), test_labels
        run = train_head(build, train_set, test_set, epochs, batch_size, seed)
        cached_seconds = time.perf_counter() - start
    return {"epochs": epochs, "batch_size": batch_size, "question_program_s": question_seconds,
            "question_program_accuracy": question_accuracy, "cached_s": cached_seconds,
            "cached_accuracy": accuracy(run.final_predictions, test_labels),
            "speed_up": question_seconds / cached_seconds}


def flip_latency(flips: int) -> dict:
    """Seconds from setting each lesson's control in code to a retrained head and a redrawn figure."""
    result = {}
    for name, lesson in discover().items():
        with contextlib.redirect_stdout(io.StringIO()):  # the widget's output area prints outside Jupyter
            view = lesson.live()
            options = getattr(view.control, "options", None)  # toggle buttons; a slider takes four decades
            values = list(options) if options else [1e-4, 1e-3, 1e-2, 1e-1]
            times = []
            for i in range(flips):
                value = values[(values.index(view.control.value) + 1) % len(values)]
                start = time.perf_counter()
                view.control.value = value
                times.append(time.perf_counter() - start)
        result[name] = {"p50_s": float(np.percentile(times, 50)), "p95_s": float(np.percentile(times, 95)),
                        "flips": flips}
    return result


_EXECUTE = """
import resource, sys, time
from tlclinic.notebooks import execute
start = time.perf_counter()
execute(sys.argv[1])
print(time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def notebooks() -> dict:
    """Each solution notebook executed headless in a fresh process: wall time, and the kernel's peak memory."""
    result = {}
    for lesson in discover():
        out = subprocess.run([sys.executable, "-c", _EXECUTE, str(source_notebook(lesson))],
                             capture_output=True, text=True, check=True, env={**os.environ, "TQDM_DISABLE": "1"})
        seconds, peak_kb = out.stdout.split()[-2:]
        result[lesson] = {"seconds": float(seconds), "kernel_peak_mb": int(peak_kb) / 1024}
    return result


def grading_times(submissions: int) -> dict:
    """One submission autograded, then ``submissions`` of them (solutions and untouched releases of lesson 01)."""
    lesson = next(iter(discover()))
    sources = [source_notebook(lesson), release_notebook(lesson)]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "submissions"
        for i in range(submissions):
            (folder / f"student{i:02d}").mkdir(parents=True)
            shutil.copy(sources[i % 2], folder / f"student{i:02d}" / f"{lesson}.ipynb")
        start = time.perf_counter()
        autograde.grade_submission(folder / "student00" / f"{lesson}.ipynb", folder)
        result = {"one_submission_s": time.perf_counter() - start, "submissions": submissions}
        for jobs in (1, 2):
            start = time.perf_counter()
            autograde.grade_all(folder, jobs, log=lambda *a, **k: None)
            result[f"jobs_{jobs}_s"] = time.perf_counter() - start
    result["speed_up_jobs_2"] = result["jobs_1_s"] / result["jobs_2_s"]
    return result


def table(results: dict) -> str:
    rows = [("measure", "value", "target")]
    h = results.get("head_training")
    rows += [] if h is None else [(f"question 000's program, {h['epochs']} epochs at batch {h['batch_size']}", f"{h['question_program_s']:.1f} s"
              f" (test accuracy {h['question_program_accuracy']:.2f})", ""),
             ("cached features, extraction included", f"{h['cached_s']:.1f} s (test accuracy "
              f"{h['cached_accuracy']:.2f})", ""),
             ("speed-up", f"{h['speed_up']:.1f}x", f">= {TARGETS['speed-up']:.0f}x")]
    for name, f in results.get("flips", {}).items():
        rows.append((f"flip: {name} (p50 / p95 of {f['flips']})", f"{f['p50_s']:.2f} s / {f['p95_s']:.2f} s",
                     f"< {TARGETS['flip p50 s']} s / < {TARGETS['flip p95 s']} s"))
    for lesson, n in results.get("notebooks", {}).items():
        rows.append((f"notebook {lesson}", f"{n['seconds']:.1f} s, kernel peak {n['kernel_peak_mb']:.0f} MB",
                     f"< {TARGETS['notebook s']:.0f} s, < {TARGETS['kernel peak MB']:.0f} MB"))
    g = results.get("grading")
    rows += [] if g is None else [("grading: one submission", f"{g['one_submission_s']:.1f} s", f"< {TARGETS['one submission s']:.0f} s"),
             (f"grading: {g['submissions']} submissions, --jobs 1 / --jobs 2",
              f"{g['jobs_1_s']:.0f} s / {g['jobs_2_s']:.0f} s ({g['speed_up_jobs_2']:.2f}x)", "")]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in rows]
    return "\n".join([lines[0], "|" + "|".join("-" * (w + 2) for w in widths) + "|", *lines[1:]])


STEPS = ("head_training", "flips", "notebooks", "grading")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/run.py", description=__doc__.split("\n")[0])
    parser.add_argument("--submissions", type=int, default=20)
    parser.add_argument("--flips", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("build/bench.json"))
    parser.add_argument("--only", choices=STEPS, nargs="+", default=list(STEPS), help="measure only these")
    args = parser.parse_args(argv)
    info = device.report()
    for name in sorted({dataset for lesson in discover().values() for dataset in lesson.DATA}):
        data.ensure(name)
    results = {"machine": {**info, "cpus": os.cpu_count(), "platform": platform.platform(),
                           "date": time.strftime("%Y-%m-%d")}}
    steps = {"head_training": lambda: question_program_vs_cached(args.epochs), "flips": lambda: flip_latency(args.flips),
             "notebooks": notebooks, "grading": lambda: grading_times(args.submissions)}
    for key in args.only:
        step = steps[key]
        start = time.perf_counter()
        results[key] = step()
        print(f"{key}: measured in {time.perf_counter() - start:.0f} s", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"\n{table(results)}\n\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
