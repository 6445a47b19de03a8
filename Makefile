# Two commands a reader needs: `make reproduce` and `make test`. Both build .venv first (Python >= 3.10).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PROFILE ?=
ONLY ?=
OUTPUT ?=
# Notebooks make reproduce runs at a time, each in its own process (each gets CHARLM_THREADS = cores / JOBS).
JOBS ?= 1
# pytest-xdist workers, one per core; worksteal moves queued tests to a worker that ran out, so the long
# notebook tests do not leave one core idle at the end.
TEST_JOBS ?= auto

.PHONY: venv reproduce book test test-fast data benchmarks gpu-check clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

# Every section of the post: fetch the corpora, run notebooks/*.ipynb with papermill, write outputs/results.md.
reproduce: venv
	$(BIN)/python -m charlm.reproduce $(if $(PROFILE),--profile $(PROFILE)) $(if $(ONLY),--only $(ONLY)) $(if $(OUTPUT),--output $(OUTPUT)) --jobs $(JOBS)

# The committed runs in outputs/<profile>/ as a static site: book/index.html, one page per section.
book: venv
	$(BIN)/python -m charlm.paper.book

# The whole suite, notebooks (smoke profile) and the JupyterLab browser test included.
test: venv
	$(BIN)/python -m pytest -n $(TEST_JOBS) --dist worksteal

# Unit tests only: seconds, not minutes.
test-fast: venv
	$(BIN)/python -m pytest -n $(TEST_JOBS) --dist worksteal -m "not notebooks and not browser"

data: venv
	$(BIN)/python data/download.py all

benchmarks: venv
	$(BIN)/python benchmarks/bench_train.py
	$(BIN)/python benchmarks/bench_sample.py

# The moment a GPU is lent: CUDA tests, precisions, resume, CPU hand-over, throughput (< 8 min on one GPU).
# DEV=cpu dry-runs the script on a CPU with tiny sizes (it measures nothing there).
gpu-check: venv
	$(BIN)/python benchmarks/gpu_check.py $(if $(filter cpu,$(DEV)),--device cpu --quick)

clean:
	rm -rf $(VENV) outputs/*.ipynb outputs/results* outputs/runs
