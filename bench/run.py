"""The workbook's benchmark: ``make bench``.  Speed and memory, measured in one run on this machine.

    python bench/run.py [--submissions 10] [--class-size 100] [--cycles 3] [--epochs 5] [--out build/bench.json] [--only STEP ...]

1. ``inception_v3``: questions 002's and 000's programs on InceptionV3's architecture (random weights), the
   network run at every step, against the workbook's way (features extracted once, the head trained on them).
2. ``head_training``: the same on the workbook's mini backbone, both run whole, with their test accuracy.
3. ``browser``: live-control latency in JupyterLab in Chromium, from a click to the new figure on the page: a choice
   trained on the spot, one trained in the background, a revisit.
4. ``notebooks``: each lesson's solution notebook executed headless: wall time, and the peak memory of its kernel
   and of the session (the kernel and its check's process at once).
5. ``grading``: per lesson, one submission by phase, and a class graded with --jobs 2, per submission.
   ``class``: a class of 100 distinct answers of lesson 01 (half valid, half broken) graded with --jobs 2.
6. ``seeds_together``: many seeds of lesson 01's head trained at once (``jax.vmap``, on JAX) against one at a time
   (``bench/seeds_together.py``), and how far each seed's copy lands from its lone run.
Every training runs where Keras puts it: on the GPU when there is one (named in the table), else on the CPU.
Prints a table and writes the figures to build/bench.json.  Timings live here, never in tests.

``--write`` keeps each step measured in ``bench/measured.json`` (beside the other steps' latest measures, each with
the machine, its speed and the date it was measured on) and rewrites the README's performance table from it: the
README's figures are this command's output.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tlclinic import browser, data, device, generated  # first: it keeps TensorFlow's start-up lines quiet
from tlclinic.grader import judge

import keras
import nbformat
import numpy as np
from tlclinic.backbone import get_backbone
from tlclinic.console import quiet
from tlclinic.features import extract
from tlclinic.heads import question000_classifier, question002_regressor
from tlclinic.lessons import discover, release_notebook, source_notebook
from tlclinic.live import DONE
from tlclinic.symptoms import accuracy
from tlclinic.training import fit_shuffled, train_head

TARGETS = {"speed-up": 20.0, "revisit p50 s": 0.3, "first picture p50 s": 0.5, "notebook s": 60.0,
           "submission alone s, a head": 10.0, "submission alone s, a whole model": 20.0, "class s per submission": 3.0,
           "kernel peak MB": 1536.0, "session peak MB": 2048.0}  # a Binder session gets 2 GB
HEAD_KINDS = ("head", "optimizer")  # answers trained as heads on cached features; the others build on the backbone


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


# (images, size, batch, epochs) of each question's program; question 000's 64x64 is below InceptionV3's minimum of
# 75, so it runs at 75.  The images are the workbook's datasets of the same task.
QUESTION_SIZES = {"002": ("road", 299, 32, 100), "000": ("shapes", 75, 5, 20)}


def question_program_on_inception_v3(question: str, steps: int = 3) -> dict:
    """Question ``question``'s program on InceptionV3's architecture (random weights: the time does not depend on
    their values), frozen behind a resize to its size, run at every step, against the workbook's way: features
    extracted once with the same network, the head trained on them.  The program's training step and the
    extraction are timed over a few batches and projected to the question's images and epochs; the head's
    training on cached features (random features of the network's width: the time depends on their shape only)
    runs two whole epochs, the first tracing its step, and is projected to the epochs."""

    dataset, size, batch_size, epochs = QUESTION_SIZES[question]
    images, targets = data.load(dataset, "train")
    build = question000_classifier(1, "sigmoid", "binary_crossentropy") if question == "000" else \
        question002_regressor(None)
    backbone = get_backbone("inception_v3", weights=None)
    with quiet():
        keras.utils.set_random_seed(0)
        inputs = keras.Input(images.shape[1:])
        resized = keras.layers.Resizing(size, size)(inputs)
        head = build(backbone.feature_dim)
        model = keras.Model(inputs, head(backbone.model(resized, training=False)))
        model.compile(optimizer=type(head.optimizer).from_config(head.optimizer.get_config()), loss=head.loss)
        x, y = backbone.preprocess(images[:batch_size]), targets[:batch_size]
        model.train_on_batch(x, y)  # traces the step
        start = time.perf_counter()
        for _ in range(steps):
            model.train_on_batch(x, y)
        step_s = (time.perf_counter() - start) / steps

        extractor = keras.Model(inputs, backbone.model(resized, training=False))
        chunk = backbone.preprocess(images[:64])
        extractor.predict(chunk[:32], batch_size=32, verbose=0)
        start = time.perf_counter()
        extractor.predict(chunk, batch_size=32, verbose=0)
        extract_per_image_s = (time.perf_counter() - start) / len(chunk)

        features = np.random.default_rng(0).standard_normal((len(images), backbone.feature_dim)).astype("float32")
        head_model = build(backbone.feature_dim)
        epoch_s = []
        for _ in range(2):  # the first epoch traces the training step, the second is what every later one costs
            start = time.perf_counter()
            fit_shuffled(head_model, features, targets, 1, batch_size)
            epoch_s.append(time.perf_counter() - start)
    steps_per_epoch = -(-len(images) // batch_size)
    question_s = epochs * steps_per_epoch * step_s
    extraction_s = extract_per_image_s * len(images)
    training_s = epoch_s[0] + (epochs - 1) * epoch_s[1]
    return {"question": question, "images": len(images), "size": size, "batch_size": batch_size, "epochs": epochs,
            "measured_steps": steps, "step_s": step_s, "question_program_s": question_s,
            "extraction_s": extraction_s, "cached_training_s": training_s,
            "speed_up": question_s / (extraction_s + training_s), "speed_up_once_cached": question_s / training_s}


READING_S = 5.0  # the browser step's second session: its first click this long after every cell has run
READING = f"after {READING_S:g} s reading"  # a choice not yet trained then, the background under way


def browser_flips(cycles: int = 3, lessons: list[str] | None = None) -> dict:
    """Per lesson that names its ``BROWSER_CHOICES`` (a toggle's labels or a slider's values): click to new figure
    in JupyterLab in Chromium (``tlclinic.browser``), its student notebook run whole first.  Once with the first
    click as soon as every cell has run (each new choice trained on the spot, drawn epoch by epoch), once with one
    click ``READING_S`` after it (the background training that choice or another), once after the background has
    trained every other choice, as it does while a person reads; then ``cycles`` rounds over the same choices,
    every flip a revisit.  ``lessons``: only these (default: every lesson with choices)."""
    if why := browser.missing():
        return {"skipped": why}
    plans = {name: list(lesson.BROWSER_CHOICES) for name, lesson in discover().items()
             if lesson.BROWSER_CHOICES and (not lessons or name in lessons)}
    result = {}
    for name, choices in plans.items():
        notebook = release_notebook(name)
        on_the_spot = browser.drive(notebook, choices[:2], timeout_s=600)
        reading = browser.drive(notebook, choices[:1], read_for_s=READING_S, timeout_s=600)
        read_first = browser.drive(notebook, choices * (cycles + 1), ready_first=True, timeout_s=600)
        flips = on_the_spot.flips + read_first.flips
        kinds = {kind: [f for f in flips if f.kind == kind] for kind in DONE}
        # a click after reading: on the spot if the background had not finished that choice (it may be training it)
        kinds[READING] = [f for f in reading.flips if f.kind == "on the spot"]
        kinds["trained in the background"] += [f for f in reading.flips if f.kind == "trained in the background"]
        result[name] = {kind: {"flips": len(found),
                               "first_figure_p50_s": float(np.percentile([f.first_figure_s for f in found], 50)),
                               "final_figure_p50_s": float(np.percentile([f.final_figure_s for f in found], 50)),
                               "final_figure_p95_s": float(np.percentile([f.final_figure_s for f in found], 95))}
                        for kind, found in kinds.items() if found}
        result[name]["widget_errors"] = on_the_spot.widget_errors + reading.widget_errors + read_first.widget_errors
    return result


_EXECUTE = """
import re, sys, threading, time
import psutil
from tlclinic.notebooks import execute

def status(pid):
    text = open(f"/proc/{pid}/status").read()
    return {k: int(v) / 1024 for k, v in re.findall(r"^(VmHWM|RssAnon|RssFile|RssShmem):\\s+(\\d+) kB", text, re.M)}

peaks, done = {"kernel": 0.0, "session": 0.0}, threading.Event()

def sample():
    while not done.wait(0.05):
        private = shared = 0.0
        for process in psutil.Process().children(recursive=True):
            try:
                found, kernel = status(process.pid), "ipykernel" in " ".join(process.cmdline())
            except (OSError, psutil.Error):
                continue
            private += found.get("RssAnon", 0.0) + found.get("RssShmem", 0.0)
            shared = max(shared, found.get("RssFile", 0.0))
            if kernel:
                peaks["kernel"] = max(peaks["kernel"], found.get("VmHWM", 0.0))
        peaks["session"] = max(peaks["session"], private + shared)

sampler = threading.Thread(target=sample, daemon=True)
sampler.start()
start = time.perf_counter()
execute(sys.argv[1])
seconds = time.perf_counter() - start
done.set()
sampler.join()
print(seconds, peaks["kernel"], peaks["session"])
"""


def notebooks() -> dict:
    """Each solution notebook executed headless in a fresh process: wall time, the kernel's own peak memory, and
    the session's: the kernel and what it runs beside it (the check's verifier, a process of its own), as a
    machine that runs the notebook must hold them at once (a Binder session gets ``TARGETS["session peak MB"]``).

    The session is sampled every 50 ms: each process's private memory (``RssAnon`` and ``RssShmem``), summed, and
    the largest one's file-backed pages (``RssFile``: TensorFlow's libraries, some 430 MB, which every process
    that loads them shares).  The kernel's peak is its own ``VmHWM``, read as it runs (``ru_maxrss`` of the
    children would be the largest process of the tree, the check's verifier included).
    """
    result = {}
    for lesson in discover():
        out = subprocess.run([sys.executable, "-c", _EXECUTE, str(source_notebook(lesson))],
                             capture_output=True, text=True, check=True, env={**os.environ, "TQDM_DISABLE": "1"})
        seconds, kernel_mb, session_mb = out.stdout.split()[-3:]
        result[lesson] = {"seconds": float(seconds), "kernel_peak_mb": float(kernel_mb),
                          "session_peak_mb": float(session_mb)}
    return result


def class_folder(root: Path, lesson: str, submissions: int) -> Path:
    """``submissions`` students, the even ones handing in the lesson's solution, the odd ones its untouched release."""
    sources = [source_notebook(lesson), release_notebook(lesson)]
    for i in range(submissions):
        (root / f"student{i:02d}").mkdir(parents=True)
        shutil.copy(sources[i % 2], root / f"student{i:02d}" / f"{lesson}.ipynb")
    return root


def grading_breakdown(batch: int) -> dict:
    """Per lesson: one submission (the solution) graded alone as ``make grade`` grades it, by phase: the answer's
    sandboxed process (start and imports, the set-up cell, the answer cells, crossing), then the verifiers (started
    with the answer's process, so they import Keras meanwhile) and each graded test; then a class of ``batch``
    (half solutions, half untouched releases) with --jobs 2, per submission: two distinct answers, each taken and
    judged once (``submissions.Taken``, ``judge.judge_all``), as a class that hands in the same cells costs.  The
    grader's own start (Python, its imports) is not counted: ``make grade`` pays it once for any number of
    submissions."""
    result = {}
    for lesson in discover():
        with tempfile.TemporaryDirectory() as tmp:
            folder = class_folder(Path(tmp) / "submissions", lesson, batch)
            alone = folder / "student00" / f"{lesson}.ipynb"
            marks = {}

            def mark(line: str, **_) -> None:
                if line.startswith("answers of"):
                    marks["answered"] = time.perf_counter()

            begun = time.perf_counter()
            [sub] = judge.grade_course(alone, 2, log=mark)
            judged = time.perf_counter()
            assert all(row.points == row.max_points for row in sub.rows), sub.rows  # the solution: full marks
            answer_phases = {phase: sub.seconds[phase] for phase in sub.seconds if not phase.startswith("test ")}
            phases = {f"answer: {phase}": seconds for phase, seconds in answer_phases.items()}
            phases["answer: the grader reading it, bubblewrap, starting the verifier"] = (marks["answered"] - begun
                                                                     - sum(answer_phases.values()))
            phases["verifier: the answer taken to its grades"] = judged - marks["answered"]
            phases.update({f"    verifier: {phase}": s for phase, s in sub.seconds.items() if phase.startswith("test ")})
            start = time.perf_counter()
            judge.grade_all(folder, 2, log=lambda *a, **k: None)
            per_submission = (time.perf_counter() - start) / batch
        result[lesson] = {"one_submission_s": judged - begun, "phases_s": phases, "batch": batch,
                          "per_submission_s": per_submission}
    return result


def distinct_class(root: Path, size: int) -> tuple[Path, dict[str, bool]]:
    """``size`` students of lesson 01, no two answers alike: each head's first hidden layer a different width,
    every other student with question 000's one-unit softmax (broken), the rest with the sigmoid fix (valid).
    Returns the folder and student -> whether the answer is valid."""
    lesson = next(iter(discover()))
    source = nbformat.read(source_notebook(lesson), as_version=4)
    valid = {}
    for i in range(size):
        nb, student = copy.deepcopy(source), f"student{i:03d}"
        valid[student] = i % 2 == 0
        cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "build_head")
        cell.source = (
            "import keras\nfrom keras import layers\n\n\ndef build_head(input_dim):\n"
            "    inputs = keras.Input((input_dim,))\n"
            f"    x = layers.Dense({1024 - 4 * i}, activation='relu')(inputs)\n"
            "    x = layers.Dense(512, activation='relu')(x)\n    x = layers.Dense(32, activation='relu')(x)\n"
            f"    outputs = layers.Dense(1, activation='{'sigmoid' if valid[student] else 'softmax'}')(x)\n"
            "    model = keras.Model(inputs, outputs)\n"
            "    model.compile(optimizer='adam', loss='binary_crossentropy', metrics=['accuracy'])\n"
            "    return model\n")
        (root / student).mkdir(parents=True)
        nbformat.write(nb, root / student / f"{lesson}.ipynb")
    return root, valid


def grading_a_class(size: int) -> dict:
    """A class of ``size`` distinct lesson 01 answers (``distinct_class``) graded with --jobs 2, as ``make grade``
    grades it: seconds per submission, and how many valid answers got full marks and broken ones none."""
    with tempfile.TemporaryDirectory() as tmp:
        folder, valid = distinct_class(Path(tmp) / "submissions", size)
        start = time.perf_counter()
        subs = judge.grade_course(folder, 2, log=lambda *a, **k: None)
        seconds = time.perf_counter() - start
    full = {sub.student: all(r.points == r.max_points for r in sub.rows) for sub in subs}
    none = {sub.student: all(r.points == 0 for r in sub.rows) for sub in subs}
    return {"size": size, "per_submission_s": seconds / size,
            "valid_full_marks": sum(full[s] for s in valid if valid[s]), "valid": sum(valid.values()),
            "broken_zero": sum(none[s] for s in valid if not valid[s]), "broken": size - sum(valid.values())}


def seeds_together(seeds: int = 20) -> dict:
    """``bench/seeds_together.py`` in a process of its own on JAX (its JSON)."""
    out = subprocess.run([sys.executable, str(Path(__file__).with_name("seeds_together.py")), f"--seeds={seeds}"],
                         capture_output=True, text=True, check=True,
                         env={**os.environ, "KERAS_BACKEND": "jax", "TQDM_DISABLE": "1"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def alone_target(lesson: str) -> float:
    head = discover()[lesson].ANSWER.kind in HEAD_KINDS
    return TARGETS["submission alone s, a head" if head else "submission alone s, a whole model"]


def table(results: dict) -> str:
    rows = [("measure", "value", "target")]
    for q in results.get("inception_v3", []):
        rows += [(f"question {q['question']}'s program on InceptionV3 ({q['size']}x{q['size']}, batch {q['batch_size']}, "
                  f"{q['images']} images, {q['epochs']} epochs)", f"{q['question_program_s']:.0f} s (a step: "
                  f"{q['step_s']:.2f} s, {q['measured_steps']} measured)", ""),
                 ("  the workbook's way: extraction once + the head on cached features",
                  f"{q['extraction_s']:.0f} s + {q['cached_training_s']:.0f} s", ""),
                 ("  speed-up (each retraining once cached)", f"{q['speed_up']:.0f}x ({q['speed_up_once_cached']:.0f}x)",
                  f">= {TARGETS['speed-up']:.0f}x")]
    h = results.get("head_training")
    rows += [] if h is None else [(f"question 000's program on the mini backbone, {h['epochs']} epochs at batch "
                                   f"{h['batch_size']}", f"{h['question_program_s']:.1f} s (test accuracy "
                                   f"{h['question_program_accuracy']:.2f})", ""),
             ("  cached features, extraction included", f"{h['cached_s']:.1f} s (test accuracy "
              f"{h['cached_accuracy']:.2f}): {h['speed_up']:.1f}x", "")]
    flips = results.get("browser", {})
    rows += [("browser flips", f"not measured: {flips['skipped']}", "")] if "skipped" in flips else []
    for name, kinds in ({} if "skipped" in flips else flips).items():
        for kind, f in kinds.items():
            if kind == "widget_errors":
                rows.append((f"browser {name}: widget errors on the page", str(f), "0"))
                continue
            target = TARGETS["revisit p50 s"] if kind == "revisit" else TARGETS["first picture p50 s"]
            rows.append((f"browser {name}, click to figure, {kind} (p50 of {f['flips']}: first picture / finished; "
                         "finished p95)", f"{f['first_figure_p50_s']:.2f} s / {f['final_figure_p50_s']:.2f} s; "
                         f"{f['final_figure_p95_s']:.2f} s", f"first picture < {target} s"))
    for lesson, n in results.get("notebooks", {}).items():
        rows.append((f"notebook {lesson}: run time; peak memory of the kernel, and of the session (the kernel and its "
                     "check's process at once)", f"{n['seconds']:.1f} s; {n['kernel_peak_mb']:.0f} MB, "
                     f"{n['session_peak_mb']:.0f} MB", f"< {TARGETS['notebook s']:.0f} s; < "
                     f"{TARGETS['kernel peak MB']:.0f} MB, < {TARGETS['session peak MB']:.0f} MB"))
    for lesson, g in results.get("grading", {}).items():
        rows.append((f"grading {lesson}: per submission in a class of {g['batch']} (half its solution, half its "
                     "untouched release), --jobs 2",
                     f"{g['per_submission_s']:.1f} s", f"< {TARGETS['class s per submission']:.0f} s"))
        rows.append(("  one submission alone", f"{g['one_submission_s']:.1f} s", f"< {alone_target(lesson):.0f} s"))
        rows += [(f"    {phase}", f"{seconds:.1f} s", "") for phase, seconds in g["phases_s"].items()]
    c = results.get("class")
    rows += [] if c is None else [(f"grading a class of {c['size']} distinct answers of lesson 01, --jobs 2, per "
                                   "submission", f"{c['per_submission_s']:.1f} s (full marks: {c['valid_full_marks']}"
                                   f" of {c['valid']} valid; none: {c['broken_zero']} of {c['broken']} broken)",
                                   f"< {TARGETS['class s per submission']:.0f} s")]
    together = results.get("seeds_together")
    if together:
        differences = sorted(together["prediction_difference_per_seed"])
        rows += [(f"{together['seeds']} seeds of lesson 01's head, {together['epochs']} epochs, on JAX: one at a time "
                  "/ all at once (jax.vmap)", f"{together['one_at_a_time_s']:.1f} s / {together['all_at_once_s']:.1f} s",
                  ""),
                 ("  each seed's copy against its lone run: largest prediction difference, median / max",
                  f"{differences[len(differences) // 2]:.1e} / {differences[-1]:.1e}", "")]
    rows.append(("GPU", ", ".join(results["machine"]["gpus"]) or "no GPU", ""))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in rows]
    return "\n".join([lines[0], "|" + "|".join("-" * (w + 2) for w in widths) + "|", *lines[1:]])


MEASURED = Path(__file__).resolve().with_name("measured.json")  # --write: each step's latest measure


def matmul_gflops(size: int = 1024, repeats: int = 20) -> float:
    """This machine's speed in one number: NumPy's float32 matrix product of two size x size matrices, in GFLOP/s
    (the best of ``repeats``).  2-core machines that look alike differed by nine times in it."""
    a = np.random.default_rng(0).random((size, size), dtype=np.float32)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ a
        best = min(best, time.perf_counter() - start)
    return 2 * size ** 3 / best / 1e9


def machine_words(machine: dict) -> str:
    """A machine in a few words: its cores, its speed and what trained."""
    kernels = f", {machine['kernels']}" if machine.get("kernels") else ""
    return (f"{machine['cpus']} cores at {machine['matmul_gflops']:.0f} GFLOP/s (NumPy's 1024x1024 float32 product), "
            f"{', '.join(machine['gpus']) or 'no GPU'}; Keras {machine['keras']} on {machine['backend']}{kernels}")


def kept_with(results: dict, steps, path: Path = MEASURED, some_lessons: bool = False) -> dict:
    """``path``'s measures with ``steps`` of ``results`` in place of theirs, written back.  ``some_lessons``: the
    browser step measured only some lessons (``--lessons``), which replace their own measures and keep the others',
    each lesson's machine kept beside them."""
    kept = json.loads(path.read_text()) if path.exists() else {}
    for step in steps:
        entry = {"machine": results["machine"], "results": results[step]}
        before = kept.get(step, {})
        measured_before = before.get("results", {})  # each lesson's flips, or {"skipped": why}
        if some_lessons and step == "browser" and measured_before and "skipped" not in measured_before:
            if "skipped" in results[step]:
                continue  # nothing measured this time: the lessons measured before stay
            machines = {lesson: before.get("lessons", {}).get(lesson, before["machine"]) for lesson in measured_before}
            entry["results"] = {**measured_before, **results[step]}
            entry["lessons"] = {**machines, **{lesson: results["machine"] for lesson in results[step]}}
        kept[step] = entry
    path.write_text(json.dumps(kept, indent=1) + "\n")
    return kept


def readme_part(kept: dict) -> str:
    """The README's performance table: ``table`` of every step kept, and where and when each was measured (for a
    browser step measured lesson by lesson, each lesson's)."""
    by_machine: dict[str, list[str]] = {}
    for step in STEPS:
        if step not in kept:
            continue
        lessons = kept[step].get("lessons", {})
        groups: dict[str, list[str]] = {}
        for lesson, machine in lessons.items():
            groups.setdefault(f"{machine['date']}, {machine_words(machine)}", []).append(lesson)
        if len(groups) > 1:
            for words, names in groups.items():
                by_machine.setdefault(words, []).append(f"`{step}` ({', '.join(names)})")
        else:
            machine = kept[step]["machine"]
            by_machine.setdefault(f"{machine['date']}, {machine_words(machine)}", []).append(f"`{step}`")
    latest = max((kept[step]["machine"] for step in kept), key=lambda machine: machine["date"])
    results = {"machine": latest, **{step: kept[step]["results"] for step in kept}}
    where = "\n".join(f"- {', '.join(steps)}: {words}" for words, steps in by_machine.items())
    return f"Measured by `python bench/run.py --write` (steps as named by `--only`):\n\n{where}\n\n{table(results)}"


STEPS = ("inception_v3", "head_training", "browser", "notebooks", "grading", "class", "seeds_together")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/run.py", description=__doc__.split("\n")[0])
    parser.add_argument("--submissions", type=int, default=10, help="the class size graded per lesson")
    parser.add_argument("--class-size", type=int, default=100, help="the class of distinct lesson 01 answers")
    parser.add_argument("--cycles", type=int, default=3, help="rounds of revisits over each lesson's choices")
    parser.add_argument("--lessons", nargs="+", choices=list(discover()),
                        help="the browser step: only these lessons (with --write, the others' measures are kept)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("build/bench.json"))
    parser.add_argument("--only", choices=STEPS, nargs="+", default=list(STEPS), help="measure only these")
    parser.add_argument("--write", action="store_true",
                        help=f"keep the steps measured in {MEASURED.name} and rewrite the README's performance table")
    args = parser.parse_args(argv)
    info = device.report()
    for name in sorted({dataset for lesson in discover().values() for dataset in lesson.DATA}):
        data.ensure(name)
    results = {"machine": {**info, "gpus": device.gpus(), "cpus": os.cpu_count(), "platform": platform.platform(),
                           "matmul_gflops": matmul_gflops(), "date": time.strftime("%Y-%m-%d")}}
    steps = {"inception_v3": lambda: [question_program_on_inception_v3(q) for q in QUESTION_SIZES],
             "head_training": lambda: question_program_vs_cached(args.epochs), "browser": lambda: browser_flips(args.cycles, args.lessons),
             "notebooks": notebooks, "grading": lambda: grading_breakdown(args.submissions),
             "class": lambda: grading_a_class(args.class_size),
             "seeds_together": seeds_together}
    for key in args.only:
        step = steps[key]
        start = time.perf_counter()
        results[key] = step()
        print(f"{key}: measured in {time.perf_counter() - start:.0f} s", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"\n{table(results)}\n\nwrote {args.out}")
    if args.write:
        kept = kept_with(results, args.only, some_lessons=bool(args.lessons))
        generated.write("performance", readme_part(kept))
        print(f"wrote {MEASURED.relative_to(MEASURED.parent.parent)} and the README's performance table")
    return 0


if __name__ == "__main__":
    sys.exit(main())
