# Two entry points: `make run` (whole pipeline, default config) and `make test`.
# Both create the pinned virtual environment first (offline-friendly: torch 2.13.0 CPU).

PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= 2
STAMP := $(VENV)/.installed

.PHONY: env run quick test bench bench-scale lint clean readme verify reproducibility docs

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

# Rerun the quick config into a fresh folder and compare summary.md, the tables and every
# prediction with the digest committed in benchmarks/results/quick_digest.json.
verify: $(STAMP)
	$(BIN)/python -m convergence.reproducibility verify --cores $(CORES)

# Rewrite that digest and benchmarks/results/reproducibility.md (host, numeric pin, library
# versions, summary.md sha256 of the quick config and of the default run in DEFAULT_RESULTS).
DEFAULT_RESULTS ?= results
reproducibility: $(STAMP)
	$(BIN)/python -m convergence.reproducibility record --cores $(CORES) \
		--default-results $(DEFAULT_RESULTS)

test: $(STAMP)
	$(BIN)/ruff check src tests workflow benchmarks
	$(BIN)/snakemake --lint --cores 1 > /dev/null
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/pytest -q $(PYTEST_ARGS)

# Whole-pipeline benchmark (quick and mid-size configs, current vs previous layout):
# per-rule wall times, fixed cost per training job, samples/s -> benchmarks/results/pipeline.md
bench: $(STAMP)
	$(BIN)/python benchmarks/pipeline.py --cores $(CORES)

# Reduced pipeline on synthetic panels of 100, 300, 1,000 and 3,000 entities x 40 periods:
# per-rule wall time, peak RSS, output bytes, growth exponent -> benchmarks/results/scale.md
# and the "Regional panels" block of docs/performance.md (about 20 minutes on 2 cores).
bench-scale: $(STAMP)
	$(BIN)/python benchmarks/scale.py --cores $(CORES) --output benchmarks/results/scale.md \
		--readme docs/performance.md

# Documentation site (docs/, mkdocs.yml): regenerate the configuration reference from the
# schema, then build strictly into site/ (a broken link or a page missing from nav fails).
docs: $(STAMP)
	$(BIN)/python -m convergence.docs --output docs/reference/configuration.md
	$(BIN)/python -m mkdocs build --strict

lint: $(STAMP)
	$(BIN)/ruff check src tests workflow benchmarks
	$(BIN)/ruff format --check src tests workflow benchmarks
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/snakemake --lint --cores 1

clean:
	rm -rf results .snakemake
