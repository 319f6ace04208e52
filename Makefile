# Transfer-Learning Clinic. Every target sets up .venv itself (plain Python 3.11+, no conda, no GPU).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

# TensorFlow's C++ start-up chatter goes to stderr; keep it out of notebooks and test cells.
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: help test demo bench lab data pretrain release grade calibrate stress sandbox clean-data

help:
	@echo "make test      set up .venv and run the test suite"
	@echo "make demo      set up .venv and run the main job"
	@echo "make lab       open JupyterLab on the student notebooks"
	@echo "make data      draw the workbook's datasets under data/"
	@echo "make pretrain  retrain the mini Inception backbone (data/weights/)"
	@echo "make release   regenerate the student notebooks/ from solutions/ (nbgrader)"
	@echo "make grade SUBMISSIONS=<file or folder>   autograde submitted notebooks"
	@echo "make calibrate run every graded check over 20 seeds (under both TensorFlow CPU kernel families)"
	@echo "make stress    grade on a machine with 4 busy processes per core: the grades must not change"
	@echo "make bench     measure speed and memory (build/bench.json)"

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed; run: make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	@touch $@

# The grader runs each answer inside bubblewrap. As root it is installed here; otherwise the grading tests
# skip, saying so, and `make grade` refuses to grade untrusted notebooks until it is installed.
sandbox:
	@command -v bwrap >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  (apt-get update -qq >/dev/null && apt-get install -y -qq bubblewrap >/dev/null) ; } || \
	  echo "WARNING: bubblewrap (bwrap) is not installed and could not be: run 'sudo apt-get install bubblewrap'"

# TensorFlow runs oneDNN kernels on some CPUs and Eigen kernels on others: the whole suite runs under Eigen's
# (TF_ENABLE_ONEDNN_OPTS=0), and the tests whose numbers depend on the kernels run again under oneDNN's.
test: $(STAMP) sandbox
	TF_ENABLE_ONEDNN_OPTS=0 $(PY) -m pytest -n 2 --dist loadgroup --durations=10
	TF_ENABLE_ONEDNN_OPTS=1 $(PY) -m pytest -n 2 --dist loadgroup -m numerics

demo: $(STAMP)
	$(PY) -m tlclinic.demo

bench: $(STAMP)
	TQDM_DISABLE=1 $(PY) bench/run.py $(ARGS)

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/

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
	TF_ENABLE_ONEDNN_OPTS=0 TQDM_DISABLE=1 $(PY) -m tlclinic.calibrate --seeds 20 --write
	TF_ENABLE_ONEDNN_OPTS=1 TQDM_DISABLE=1 $(PY) -m tlclinic.calibrate --seeds 20 --write

stress: $(STAMP) sandbox
	$(PY) -m pytest -m slow -s tests/test_stress.py

clean-data:
	rm -rf data/shapes data/road data/source data/features
