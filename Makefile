# Two entry points: `make run` (whole pipeline, default config) and `make test`.
# Both create the pinned virtual environment first (offline-friendly: torch 2.13.0 CPU).

PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= 2
STAMP := $(VENV)/.installed

.PHONY: env run quick test bench lint clean readme

$(STAMP): envs/requirements.lock pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH (or set PYTHON=...)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r envs/requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

env: $(STAMP)

run: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) --profile profiles/local
	$(BIN)/snakemake --cores $(CORES) --profile profiles/local --report results/report.html

# Copy results/summary.md (table, findings, ablations; no data checks) into README.md.
readme: $(STAMP)
	$(BIN)/python -m convergence.evaluation.readme --summary results/summary.md --readme README.md

# The tiny end-to-end config of the tests (2 data sets, 2 seeds): a few minutes, in results/quick.
quick: $(STAMP)
	CONVERGENCE_CONFIG=tests/integration/config.yaml $(BIN)/snakemake --cores $(CORES) \
		--profile profiles/local --config results_dir=results/quick

test: $(STAMP)
	$(BIN)/ruff check src tests workflow benchmarks
	$(BIN)/snakemake --lint --cores 1 > /dev/null
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/pytest -q $(PYTEST_ARGS)

# Whole-pipeline benchmark (quick and mid-size configs, current vs previous layout):
# per-rule wall times, fixed cost per training job, samples/s -> benchmarks/results/pipeline.md
bench: $(STAMP)
	$(BIN)/python benchmarks/pipeline.py --cores $(CORES)

lint: $(STAMP)
	$(BIN)/ruff check src tests workflow benchmarks
	$(BIN)/ruff format --check src tests workflow benchmarks
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/snakemake --lint --cores 1

clean:
	rm -rf results .snakemake
