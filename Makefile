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

# torch first, pinned: on this machine pip resolves it to the local CPU wheel, so no CUDA
# build is ever pulled in by a looser requirement later.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q "torch==2.13.0"
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

demo: install
	$(BIN)/mnistlab data info mnist
	$(BIN)/mnistlab train recipes/demo.yaml --out runs

test: install
	$(BIN)/python -m pytest -q

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
