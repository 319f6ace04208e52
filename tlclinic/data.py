"""Offline, deterministic datasets for the workbook.

Three image sets are drawn with Pillow and NumPy, written as PNG files under
``data/`` on first use, and read back as NumPy arrays:

``shapes``
    Two classes (``circles`` and ``squares``), ``train/<class>/*.png`` (1000)
    and ``test/<class>/*.png`` (100): the folder layout of question 000, which
    ``keras.utils.image_dataset_from_directory`` reads as it is.  Position,
    scale, rotation, colour, background, clutter and noise all vary, so no
    single pixel statistic separates the classes.
``road``
    96x320 road scenes seen from a car; the steering angle in [-1, 1] is the
    curvature of the drawn road.  ``train/`` and ``val/`` each hold the images
    and a ``driving_log.csv`` of file name and angle.
``source``
    Six other shape classes on which the workbook's backbone was pretrained.

Each image draws from its own ``numpy.random.default_rng((seed, split, index))``,
so the same seed gives byte-identical files however the work is split.
"""
from __future__ import annotations

import contextlib
import csv
import fcntl
import hashlib
import json
import math
import multiprocessing
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from .progress import progress

DATA_DIR = Path(os.environ.get("TLCLINIC_DATA", Path(__file__).resolve().parent.parent / "data"))
MANIFEST = "manifest.json"
BUILD_COMMAND = "make data   (or: python -m tlclinic.data build {name})"


class DataMissingError(FileNotFoundError):
    """A dataset folder is missing or holds no images."""


# ----------------------------------------------------------------------------
# Recipes


@dataclass(frozen=True)
class Recipe:
    name: str
    size: tuple[int, int]  # height, width
    splits: dict  # split name -> images per class (or total for road)
    classes: tuple[str, ...] = ()
    version: int = 1


RECIPES = {
    "shapes": Recipe("shapes", (96, 96), {"train": 500, "test": 50}, ("circles", "squares")),
    "road": Recipe("road", (96, 320), {"train": 2000, "val": 500}),
    "source": Recipe(
        "source", (96, 96), {"train": 400, "test": 100},
        ("triangles", "crosses", "stars", "rings", "stripes", "crescents"),
    ),
}
SPLIT_IDS = {"train": 0, "test": 1, "val": 2}


def _rng(seed: int, split: str, index: int) -> np.random.Generator:
    return np.random.default_rng((seed, SPLIT_IDS[split], index))


def _colour(rng: np.random.Generator, lo: int = 0, hi: int = 256) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(lo, hi, 3))


def _contrasting(rng: np.random.Generator, other, min_distance: float = 120.0):
    while True:
        c = _colour(rng)
        if np.linalg.norm(np.subtract(c, other)) >= min_distance:
            return c


def _background(rng: np.random.Generator, h: int, w: int) -> tuple[Image.Image, tuple]:
    """A random two-colour gradient in a random direction."""
    c0, c1 = np.array(_colour(rng)), np.array(_colour(rng))
    theta = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:h, 0:w]
    t = (np.cos(theta) * xx / w + np.sin(theta) * yy / h + 1) / 2
    t = (t - t.min()) / max(t.max() - t.min(), 1e-6)
    img = c0 * (1 - t[..., None]) + c1 * t[..., None]
    return Image.fromarray(img.astype(np.uint8)), tuple((c0 + c1) / 2)


def _clutter(draw: ImageDraw.ImageDraw, rng: np.random.Generator, h: int, w: int, count: int) -> None:
    """Thin random lines and small dots, the same for every class."""
    for _ in range(count):
        if rng.random() < 0.5:
            x0, y0, x1, y1 = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0, w), rng.uniform(0, h)
            draw.line((x0, y0, x1, y1), fill=_colour(rng), width=1)
        else:
            x, y, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(1, 3)
            draw.ellipse((x - r, y - r, x + r, y + r), fill=_colour(rng))


def _noisy(img: Image.Image, rng: np.random.Generator, max_sigma: float) -> Image.Image:
    arr = np.asarray(img, dtype=np.float32)
    arr = arr + rng.normal(0.0, rng.uniform(0, max_sigma), arr.shape)
    return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8))


def _polygon(cx, cy, radii, angle):
    n = len(radii)
    return [
        (cx + r * math.cos(angle + 2 * math.pi * k / n), cy + r * math.sin(angle + 2 * math.pi * k / n))
        for k, r in enumerate(radii)
    ]


def _draw_shape(draw: ImageDraw.ImageDraw, kind: str, cx, cy, r, angle, fill, bg, rng) -> None:
    if kind == "circles":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)
    elif kind == "squares":
        # The same area as a circle of radius r, so neither class is the "bigger" one.
        draw.polygon(_polygon(cx, cy, [r * math.sqrt(math.pi / 2)] * 4, angle), fill=fill)
    elif kind == "triangles":
        draw.polygon(_polygon(cx, cy, [r] * 3, angle), fill=fill)
    elif kind == "stars":
        draw.polygon(_polygon(cx, cy, [r, r * 0.45] * 5, angle), fill=fill)
    elif kind == "crosses":
        t = r * rng.uniform(0.25, 0.4)
        for a in (angle, angle + math.pi / 2):
            dx, dy = math.cos(a), math.sin(a)
            px, py = -dy * t, dx * t
            draw.polygon([(cx - dx * r + px, cy - dy * r + py), (cx + dx * r + px, cy + dy * r + py),
                          (cx + dx * r - px, cy + dy * r - py), (cx - dx * r - px, cy - dy * r - py)], fill=fill)
    elif kind == "rings":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=fill, width=max(2, int(r * rng.uniform(0.2, 0.35))))
    elif kind == "stripes":
        dx, dy = math.cos(angle), math.sin(angle)
        for k in range(-2, 3):
            ox, oy = -dy * k * r * 0.4, dx * k * r * 0.4
            draw.line((cx - dx * r + ox, cy - dy * r + oy, cx + dx * r + ox, cy + dy * r + oy),
                      fill=fill, width=max(2, int(r * 0.15)))
    elif kind == "crescents":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)
        ox, oy = 0.5 * r * math.cos(angle), 0.5 * r * math.sin(angle)
        draw.ellipse((cx + ox - r, cy + oy - r, cx + ox + r, cy + oy + r), fill=bg)
    else:
        raise ValueError(f"unknown shape {kind!r}")


def draw_shape_image(recipe: Recipe, kind: str, rng: np.random.Generator) -> Image.Image:
    h, w = recipe.size
    img, bg = _background(rng, h, w)
    draw = ImageDraw.Draw(img)
    _clutter(draw, rng, h, w, int(rng.integers(0, 6)))
    r = rng.uniform(0.14, 0.34) * min(h, w)
    margin = 1.26 * r  # squares reach sqrt(pi/2) r from the centre
    cx, cy = rng.uniform(margin, w - margin), rng.uniform(margin, h - margin)
    fill = _contrasting(rng, bg)
    # Crescents are cut out with the mean background colour, so keep it flat for them.
    _draw_shape(draw, kind, cx, cy, r, rng.uniform(0, 2 * math.pi), fill, tuple(int(v) for v in bg), rng)
    return _noisy(img, rng, 14.0)


def draw_road_image(recipe: Recipe, rng: np.random.Generator) -> tuple[Image.Image, float]:
    """A road ahead whose bend gives the steering angle (negative: left)."""
    h, w = recipe.size
    angle = float(np.round(rng.uniform(-1, 1), 4))
    horizon = int(rng.integers(int(0.3 * h), int(0.45 * h)))
    sky_top, sky_bottom = _colour(rng, 90, 256), _colour(rng, 150, 256)
    ground = _colour(rng, 20, 160)
    canvas = np.empty((h, w, 3), np.uint8)
    t = np.linspace(0, 1, horizon)[:, None, None]
    canvas[:horizon] = (np.array(sky_top) * (1 - t) + np.array(sky_bottom) * t).astype(np.uint8)
    canvas[horizon:] = ground
    img = Image.fromarray(canvas)
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(0, 12))):  # ground texture
        x, y = rng.uniform(0, w), rng.uniform(horizon, h)
        s = rng.uniform(2, 10)
        draw.ellipse((x - s, y - s / 2, x + s, y + s / 2), fill=_colour(rng, 10, 170))

    offset = rng.uniform(-0.15, 0.15) * w  # where the car sits in its lane: a nuisance, not the label
    half_width = rng.uniform(0.28, 0.42) * w
    bend = angle * 0.9 * w

    def centre(t):  # t = 1 at the bottom row, 0 at the horizon
        return w / 2 + offset * t + bend * (1 - t) ** 2

    rows = np.linspace(0.02, 1.0, 24)
    ys = [horizon + t * (h - horizon) for t in rows]
    left = [(centre(t) - half_width * t, y) for t, y in zip(rows, ys)]
    right = [(centre(t) + half_width * t, y) for t, y in zip(rows, ys)]
    asphalt = int(rng.integers(40, 140))
    draw.polygon(left + right[::-1], fill=(asphalt, asphalt, asphalt + int(rng.integers(-10, 10))))
    edge = _colour(rng, 200, 256)
    draw.line(left, fill=edge, width=2)
    draw.line(right, fill=edge, width=2)
    marking = (240, 220, 60) if rng.random() < 0.5 else (240, 240, 240)
    phase = int(rng.integers(0, 2))
    for k in range(phase, len(rows) - 1, 2):  # dashed centre line
        draw.line([(centre(rows[k]), ys[k]), (centre(rows[k + 1]), ys[k + 1])], fill=marking,
                  width=max(1, int(3 * rows[k])))
    if rng.random() < 0.5:  # a shadow across the road
        y0 = rng.uniform(horizon, h)
        draw.polygon([(0, y0), (w, y0 + rng.uniform(-10, 10)), (w, y0 + 8), (0, y0 + 14)],
                     fill=(asphalt // 3,) * 3)
    return _noisy(img, rng, 10.0), angle


# ----------------------------------------------------------------------------
# Building


def _save_png(img: Image.Image, path: Path) -> None:
    """PNG at zlib's fastest level: lossless whatever the level, so the pixels read back are the same; at level 6
    a road image took 2.4 times as long to save (7 ms against 3 ms) for 10% smaller files."""
    img.save(path, format="PNG", optimize=False, compress_level=1)


def _draw_one(job) -> tuple[str, str] | None:
    """Draw and save one image; for road images return its log row (file name, angle)."""
    recipe, seed, folder, split, cls, i = job
    rng = _rng(seed, split, i)
    if cls is not None:
        _save_png(draw_shape_image(recipe, cls, rng), folder / split / cls / f"{cls[:-1]}_{i:05d}.png")
        return None
    img, angle = draw_road_image(recipe, rng)
    fname = f"IMG/road_{i:05d}.png"
    _save_png(img, folder / split / fname)
    return fname, f"{angle:.4f}"


def _jobs(recipe: Recipe):
    """Every image of a recipe as (split, class or None, index)."""
    for split, count in recipe.splits.items():
        if recipe.classes:
            for c, cls in enumerate(recipe.classes):
                for i in range(count):
                    yield split, cls, c * count + i
        else:
            for i in range(count):
                yield split, None, i


def build(name: str, root: Path | None = None, seed: int = 0, quiet: bool = False) -> Path:
    """Draw dataset ``name`` into ``root/name`` and return that folder.

    The manifest is written last, so a build that was cut short is rebuilt.
    """
    recipe = get_recipe(name)
    folder = Path(root or DATA_DIR) / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MANIFEST).unlink(missing_ok=True)
    jobs = [(recipe, seed, folder, *job) for job in _jobs(recipe)]
    for split in recipe.splits:
        for sub in recipe.classes or ("IMG",):
            (folder / split / sub).mkdir(parents=True, exist_ok=True)
    logs: dict[str, list] = {}
    workers = min(os.cpu_count() or 1, 4)
    with (multiprocessing.get_context("spawn").Pool(workers) if _workers_can_start() else
          contextlib.nullcontext()) as pool:
        rows = pool.imap(_draw_one, jobs, chunksize=64) if pool else map(_draw_one, jobs)
        for (_, _, _, split, _, _), row in zip(jobs, progress(rows, f"drawing {name}", quiet, total=len(jobs))):
            if row is not None:
                logs.setdefault(split, []).append(row)
    for split, rows in logs.items():
        with open(folder / split / "driving_log.csv", "w", newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(["filename", "steering"])
            writer.writerows(rows)
    manifest = {"name": name, "seed": seed, "version": recipe.version, "size": recipe.size,
                "splits": recipe.splits, "classes": recipe.classes, "files": len(jobs)}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return folder


def _workers_can_start() -> bool:
    """Whether spawned workers start without running the main program again.  A worker imports the main module
    of a plain script (``python script.py``) anew; a script that draws a dataset at its top level, outside
    ``if __name__ == "__main__":``, would then wait for the lock its parent holds, for ever.  So such a script
    draws in its own process; ``python -m``, a Jupyter kernel and the tests draw with workers."""
    main = sys.modules["__main__"]
    return getattr(main, "__spec__", None) is not None or not getattr(main, "__file__", None)


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise KeyError(f"unknown dataset {name!r}; the datasets are: {', '.join(RECIPES)}")
    return RECIPES[name]


def ensure(name: str, root: Path | None = None, seed: int = 0) -> Path:
    """The folder of dataset ``name``, drawn first if it is not complete."""
    folder = Path(root or DATA_DIR) / name
    manifest = folder / MANIFEST
    if _complete(manifest, name, seed):
        return folder
    # Several processes (test workers, the grader's verifiers) may ask at once: one draws, the others wait.
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return folder if _complete(manifest, name, seed) else build(name, root, seed)


def _complete(manifest: Path, name: str, seed: int) -> bool:
    if not manifest.exists():
        return False
    m = json.loads(manifest.read_text())
    return m.get("seed") == seed and m.get("version") == get_recipe(name).version


def fingerprint(folder: Path) -> str:
    """SHA-256 over every file's relative path and bytes, in sorted order."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def identity(folder: Path) -> str:
    """A cheap content key for a dataset folder: its manifest when it has one, a split's its dataset's manifest and
    the split's name, else its fingerprint (which reads every file: 0.18 s for ``shapes/train`` on a 2-core machine,
    too slow for every training to pay)."""
    folder = Path(folder)
    manifest = folder / MANIFEST
    if manifest.exists():
        return hashlib.sha256(manifest.read_bytes()).hexdigest()
    if folder.name in SPLIT_IDS and (folder.parent / MANIFEST).exists():
        return hashlib.sha256((folder.parent / MANIFEST).read_bytes() + b"\0" + folder.name.encode()).hexdigest()
    return fingerprint(folder)


# ----------------------------------------------------------------------------
# Reading


def _missing(folder: Path, what: str) -> DataMissingError:
    name = folder.parent.name if folder.name in SPLIT_IDS else folder.name
    hint = BUILD_COMMAND.format(name=name if name in RECIPES else "NAME")
    return DataMissingError(f"{what}: {folder}\nBuild the workbook's data with: {hint}")


def _read_png(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


def load_image_folder(folder: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Images of ``folder/<class>/*.png`` as (uint8 array N×H×W×3, int labels, class names).

    Classes are the sub-folders in sorted order, as Keras's directory loaders number them.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise _missing(folder, "no such data folder")
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
    files = [(f, c) for c, cls in enumerate(classes) for f in sorted((folder / cls).glob("*.png"))]
    if not files:
        raise _missing(folder, "no images (<class>/*.png) in the data folder")
    images = np.stack([_read_png(f) for f, _ in files])
    return images, np.array([c for _, c in files], dtype=np.int64), classes


def load_driving_log(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images and steering angles listed in ``folder/driving_log.csv``."""
    folder = Path(folder)
    log = folder / "driving_log.csv"
    if not log.exists():
        raise _missing(folder, "no driving_log.csv in the data folder")
    with open(log, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise _missing(folder, "driving_log.csv lists no images")
    images = np.stack([_read_png(folder / r["filename"]) for r in rows])
    return images, np.array([float(r["steering"]) for r in rows], dtype=np.float32)


def load(name: str, split: str, root: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(images, targets) of one split of a workbook dataset, drawn first if needed."""
    folder = ensure(name, root) / split
    if name == "road":
        return load_driving_log(folder)
    images, labels, _ = load_image_folder(folder)
    return images, labels


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m tlclinic.data", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="draw datasets under data/ (all when none is named)")
    b.add_argument("names", nargs="*", metavar="NAME", help=f"one of: {', '.join(RECIPES)}")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--root", type=Path, default=None)
    b.add_argument("--force", action="store_true", help="redraw even when complete")
    args = parser.parse_args(argv)
    for name in args.names or list(RECIPES):
        folder = build(name, args.root, args.seed) if args.force else ensure(name, args.root, args.seed)
        print(f"{name}: {folder}")


if __name__ == "__main__":
    main()
