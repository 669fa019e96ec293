# Two commands for a newcomer: `make demo` (train + report on MNIST) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Where datasets are found; ../shared/data is the development/CI copy. Without it the
# built-in datasets are downloaded once into ~/.cache/mnistlab.
ifneq ($(wildcard ../shared/data),)
export MNISTLAB_DATA ?= $(abspath ../shared/data)
endif

.PHONY: install demo test bench bench-peers clean

install: $(STAMP)

# torch first, pinned for development (pyproject.toml declares a range so that a user's
# torch is kept): on this machine pip resolves it to the local CPU wheel, so no CUDA
# build is ever pulled in by a looser requirement later.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q "torch==2.13.0"
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

demo: install
	$(BIN)/mnistlab data info mnist
	$(BIN)/mnistlab train recipes/demo.yaml --out runs

# The services some tests need are an explicit step, never a side effect of a test:
# .ci/services.sh installs what is missing (apt-get, as root) and starts a throw-away
# PostgreSQL on 127.0.0.1 for tests/services (and finds Chromium for tests/browser), then
# stops it after pytest. tests/unit, tests/slow and tests/integration need neither.
test: install
	.ci/services.sh start .services.env; \
	set -a; . ./.services.env; set +a; \
	$(BIN)/python -m pytest -q; rc=$$?; \
	.ci/services.sh stop .services.env; exit $$rc

bench: install
	$(BIN)/python benchmarks/epoch_speed.py

# Optional Keras 3 peers (TensorFlow and JAX backends) in their own environment, so that
# epoch_speed.py can time them side by side; never a dependency of mnistlab.
bench-peers: install
	$(PYTHON) -m venv .venv-peers
	.venv-peers/bin/pip install -q "keras>=3" tensorflow-cpu "jax[cpu]"
	$(BIN)/python benchmarks/epoch_speed.py

clean:
	rm -rf $(VENV) runs .pytest_cache
