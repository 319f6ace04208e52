# Transfer-Learning Clinic. Every target that runs the workbook sets up .venv itself (plain Python 3.11+, no conda,
# no GPU).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

# TensorFlow's C++ start-up chatter goes to stderr; keep it out of notebooks and test cells.
export TF_CPP_MIN_LOG_LEVEL ?= 2

# The Keras backend every target runs on: tensorflow (the default) or jax, e.g. `make demo BACKEND=jax` (or
# `KERAS_BACKEND=jax make demo`). make test runs the fast tier on TensorFlow and its numerics again on JAX.
BACKEND ?= $(or $(KERAS_BACKEND),tensorflow)
export KERAS_BACKEND := $(BACKEND)

.PHONY: help test e2e e2e-families demo bench lab data pretrain release grade calibrate stress sandbox clean-data

help:
	@echo "make test      set up .venv and run the fast test suite (under 8 minutes)"
	@echo "make e2e       the end-to-end tests: every notebook headless, the sandboxed grader, many seeds"
	@echo "make e2e-families  the end-to-end tests whose numbers depend on the kernels, under oneDNN's and on JAX"
	@echo "make demo      set up .venv and run the main job (ARGS=--fresh: every lesson again, even one unchanged)"
	@echo "make lab       open JupyterLab on the student notebooks"
	@echo "make data      draw the workbook's datasets under data/"
	@echo "make pretrain  retrain the mini Inception backbone (data/weights/)"
	@echo "make release   regenerate the student notebooks/ from solutions/ (nbgrader)"
	@echo "make grade SUBMISSIONS=<file or folder>   autograde submitted notebooks"
	@echo "make calibrate run every graded check over 20 seeds (under both TensorFlow CPU kernel families; BACKEND=jax: on JAX)"
	@echo "make stress    grade on a machine with 4 busy processes per core: the grades must not change"
	@echo "make bench     measure speed and memory (build/bench.json)"

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed; run: make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,jax]"
	@touch $@

# The grader runs each answer inside bubblewrap. As root it is installed here; otherwise the grading tests
# skip, saying so, and `make grade` refuses to grade untrusted notebooks until it is installed. Chromium, from the
# distribution, opens the demo report in the browser test; without it that test is skipped, saying so.
sandbox:
	@command -v bwrap >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  (apt-get update -qq >/dev/null && apt-get install -y -qq bubblewrap >/dev/null) ; } || \
	  echo "WARNING: bubblewrap (bwrap) is not installed and could not be: run 'sudo apt-get install bubblewrap'"
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  (apt-get update -qq >/dev/null && apt-get install -y -qq chromium >/dev/null 2>&1) ; } || \
	  echo "WARNING: chromium is not installed and could not be: the browser test of the report is skipped ('sudo apt-get install chromium')"

# On JAX, XLA compiles every new model's training, test and prediction steps, and a model built again compiles to
# the same program: in the tests, the notebooks and the demo alike. JAX keeps each program it compiled under
# build/jax-cache and reads it back instead of compiling it again (make test's JAX pass on a 2-core machine: 148 s
# without it, 95 s with it from empty). A program read back is the one compilation gives: the numbers are the same.
# The grader's jailed processes neither see this variable nor can read build/ (tlclinic/jail.py).
export JAX_COMPILATION_CACHE_DIR ?= $(CURDIR)/build/jax-cache
export JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS ?= 0
export JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES ?= 0

# TensorFlow runs oneDNN kernels on some CPUs and Eigen kernels on others. `make test`, the fast tier, runs under
# Eigen's (TF_ENABLE_ONEDNN_OPTS=0), then its tests whose numbers depend on the kernels (-m numerics) again under
# oneDNN's, then those and its tests of training code that differs between Keras's backends (-m backend_code: two
# runs compared in one process, kept compiled or trained in another thread) under Keras on JAX (XLA's kernels).
# `make e2e`, the end-to-end tier (notebooks, the sandboxed grader, many seeds), runs under Eigen's; `make
# e2e-families` runs its numerics again under oneDNN's and on JAX (the doctor on each lesson, the calibrations at
# another seed, the grader on every lesson's solution and untouched release). CI (.ci/run) runs `make test` and
# `make e2e`: on a slow 2-core machine the other families' end-to-end passes would take it past its time. Run
# `make e2e-families` before a change to how anything trains or is judged.
PYTEST := $(PY) -m pytest -n 2 --dist loadgroup
NUMERICS_FILES := $(shell grep -lE "mark.(numerics|backend_code)" tests/test_*.py)  # what the later passes collect
# On JAX, make e2e-families leaves out the many-seed calibrations and lesson 04's pipelines, which the committed
# tables measure on JAX (calibration/jax-cpu.md, make calibrate BACKEND=jax), but not lesson 04's comparison of its
# head stage trained on the backbone's outputs with the whole model's (a few images).
JAX_E2E_FILES := $(filter-out tests/test_lesson04_whole_program.py,$(NUMERICS_FILES)) tests/test_grading.py \
  tests/test_lesson04_whole_program.py::test_the_heads_stage_on_the_backbones_outputs_computed_once_is_the_run_the_whole_model_gives
test: $(STAMP) sandbox
	TF_ENABLE_ONEDNN_OPTS=0 $(PYTEST) -m "not slow and not e2e" --durations=10
	TF_ENABLE_ONEDNN_OPTS=1 $(PYTEST) -m "numerics and not e2e" $(NUMERICS_FILES)
	KERAS_BACKEND=jax $(PYTEST) -m "(numerics or backend_code) and not e2e" $(NUMERICS_FILES)

e2e: $(STAMP) sandbox
	TF_ENABLE_ONEDNN_OPTS=0 $(PYTEST) -m "e2e and not slow" --durations=10

e2e-families: $(STAMP) sandbox
	TF_ENABLE_ONEDNN_OPTS=1 $(PYTEST) -m "e2e and numerics" --durations=10 $(NUMERICS_FILES)
	KERAS_BACKEND=jax $(PYTEST) -m "e2e and (numerics or backend_code or backends)" -k "not calibration" --durations=10 $(JAX_E2E_FILES)

demo: $(STAMP)
	$(PY) -m tlclinic.demo $(ARGS)

bench: $(STAMP)
	TQDM_DISABLE=1 $(PY) bench/run.py $(ARGS)

# Started at the root, where Formgrader (the Nbgrader menu) finds nbgrader_config.py; opens on the notebooks.
# Its settings (tlclinic/jupyterlab-overrides.json, which the browser tests' JupyterLab reads too): the widgets'
# state is saved with the notebook, so a notebook reopened shows its controls, not "model not found"; and no
# "get notified about news" toast (nor any news fetched).
lab: $(STAMP)
	@mkdir -p $(VENV)/share/jupyter/lab/settings
	@cp tlclinic/jupyterlab-overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/jupyter lab --ServerApp.root_dir="$(CURDIR)" \
	  --LabApp.default_url=/lab/tree/notebooks $(if $(filter 0,$(shell id -u)),--allow-root)

data: $(STAMP)
	$(PY) -m tlclinic.data build

pretrain: $(STAMP)
	$(PY) -m tlclinic.pretrain

release: $(STAMP)
	$(PY) -m tlclinic.nbgrader_release

grade: $(STAMP) sandbox
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=<notebook or folder> [ARGS='--jobs 2 --min-score 0.8']"; exit 2; }
	$(VENV)/bin/tlclinic-grade "$(SUBMISSIONS)" $(ARGS)

calibrate: $(STAMP)
ifeq ($(BACKEND),tensorflow)
	TF_ENABLE_ONEDNN_OPTS=0 TQDM_DISABLE=1 $(PY) -m tlclinic.commands.calibrate --seeds 20 --write
	TF_ENABLE_ONEDNN_OPTS=1 TQDM_DISABLE=1 $(PY) -m tlclinic.commands.calibrate --seeds 20 --write
else
	TQDM_DISABLE=1 $(PY) -m tlclinic.commands.calibrate --seeds 20 --write
endif

stress: $(STAMP) sandbox
	$(PY) -m pytest -m slow -s tests/test_stress.py

clean-data:
	rm -rf data/shapes data/road data/source data/features
