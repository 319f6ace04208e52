"""`make bench ARGS=--write`: the README's performance table is the benchmark's own output, kept step by step."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from tlclinic import generated

ROOT = Path(__file__).resolve().parent.parent


def bench():
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "bench" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def machine(date: str, gflops: float) -> dict:
    return {"date": date, "cpus": 2, "matmul_gflops": gflops, "gpus": [], "keras": "3.15.1", "backend": "tensorflow",
            "kernels": "Eigen's (TF_ENABLE_ONEDNN_OPTS=0)"}


def test_a_step_measured_again_replaces_only_its_own_row_and_each_says_where_and_when(tmp_path):
    run = bench()
    kept_path = tmp_path / "measured.json"
    notebooks = {"01-x": {"seconds": 20.0, "kernel_peak_mb": 900.0, "session_peak_mb": 1400.0}}
    together = {"seeds": 20, "epochs": 5, "one_at_a_time_s": 30.0, "all_at_once_s": 40.0,
                "prediction_difference_per_seed": [1e-7, 2e-7]}
    run.kept_with({"machine": machine("2026-12-01", 44.0), "notebooks": notebooks, "seeds_together": together},
                  ["notebooks", "seeds_together"], kept_path)
    notebooks_again = {"01-x": {"seconds": 12.5, "kernel_peak_mb": 800.0, "session_peak_mb": 1300.0}}
    kept = run.kept_with({"machine": machine("2026-12-06", 63.0), "notebooks": notebooks_again}, ["notebooks"],
                         kept_path)
    assert json.loads(kept_path.read_text()) == kept
    assert kept["notebooks"]["results"] == notebooks_again and kept["seeds_together"]["results"] == together

    part = run.readme_part(kept)
    rows = {cells[0]: cells[1] for cells in (tuple(cell.strip() for cell in line.strip("|").split("|"))
                                             for line in part.splitlines() if line.startswith("|"))}
    assert rows["notebook 01-x: run time; peak memory of the kernel, and of the session (the kernel and its check's "
                "process at once)"] == "12.5 s; 800 MB, 1300 MB"
    assert rows["20 seeds of lesson 01's head, 5 epochs, on JAX: one at a time / all at once (jax.vmap)"] == \
        "30.0 s / 40.0 s"
    assert "- `notebooks`: 2026-12-06, 2 cores at 63 GFLOP/s" in part
    assert "- `seeds_together`: 2026-12-01, 2 cores at 44 GFLOP/s" in part

    readme = tmp_path / "README.md"
    readme.write_text("# x\n\n<!-- generated: performance -->\nold\n<!-- end generated: performance -->\n")
    assert generated.write("performance", part, readme)
    assert generated.read("performance", readme).strip() == part.strip()


def test_a_browser_step_measured_for_some_lessons_replaces_only_theirs(tmp_path):
    run = bench()
    kept_path = tmp_path / "measured.json"
    flips = lambda s: {"on the spot": {"flips": 1, "first_figure_p50_s": s, "final_figure_p50_s": s,  # noqa: E731
                                       "final_figure_p95_s": s}, "widget_errors": 0}
    first = run.kept_with({"machine": machine("2026-11-30", 40.0), "browser": {"04-y": flips(9.0)}}, ["browser"],
                          kept_path, some_lessons=True)  # nothing kept before: kept as measured
    assert first["browser"]["results"] == {"04-y": flips(9.0)}
    run.kept_with({"machine": machine("2026-12-01", 44.0), "browser": {"01-x": flips(1.0), "04-y": flips(7.0)}},
                  ["browser"], kept_path)
    kept = run.kept_with({"machine": machine("2026-12-06", 63.0), "browser": {"04-y": flips(1.5)}}, ["browser"],
                         kept_path, some_lessons=True)
    assert kept["browser"]["results"] == {"01-x": flips(1.0), "04-y": flips(1.5)}
    part = run.readme_part(kept)  # each lesson says where and when it was measured
    assert "- `browser` (01-x): 2026-12-01, 2 cores at 44 GFLOP/s" in part
    assert "- `browser` (04-y): 2026-12-06, 2 cores at 63 GFLOP/s" in part
    assert run.kept_with({"machine": machine("2026-12-06", 63.0), "browser": {"skipped": "no Chromium"}}, ["browser"],
                         kept_path, some_lessons=True) == kept  # a skipped measure of some lessons keeps them all
    assert run.kept_with({"machine": machine("2026-12-07", 63.0), "browser": {"04-y": flips(1.4)}}, ["browser"],
                         kept_path)["browser"] == {"machine": machine("2026-12-07", 63.0),  # all measured anew
                                                   "results": {"04-y": flips(1.4)}}


def test_the_readmes_performance_table_is_the_one_its_kept_measures_give():
    """The README's part is what `bench/run.py --write` writes from `bench/measured.json`: edited by hand, or left
    behind by a measure, it fails here."""
    run = bench()
    kept = json.loads(run.MEASURED.read_text())
    assert generated.read("performance").strip() == run.readme_part(kept).strip()
