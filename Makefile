# Two commands on a fresh machine: `make demo` and `make test`.
# Each creates or reuses .venv, installs the project into it and, on Debian,
# installs the Fashion-MNIST package when the data is missing.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
FMNIST := /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEMO := runs/demo

.PHONY: install data demo test bench wheels clean

install: $(STAMP)

$(STAMP): setup.cfg setup.py pyproject.toml Makefile
	@echo "Installing the project and its pinned dependencies (TensorFlow, onnxruntime, ...) into $(VENV); about a minute on first run"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,cpu,faiss,faces]'
	touch $(STAMP)

data:
	@if [ -z "$$ZOO_DATA_DIR" ] && [ ! -f $(FMNIST) ]; then \
	  if command -v apt-get >/dev/null; then \
	    echo "Installing Debian package dataset-fashion-mnist"; \
	    $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq dataset-fashion-mnist; \
	  else \
	    echo "Fashion-MNIST not found: set ZOO_DATA_DIR to the IDX files, or go online (TFDS)."; \
	  fi; \
	fi

demo: install data
	$(VENV)/bin/zoo list
	$(VENV)/bin/zoo train fmnist_cnn --quick --run-dir $(DEMO)
	$(VENV)/bin/zoo export fmnist_cnn --run-dir $(DEMO) --format onnx savedmodel --out $(DEMO)/artifact --force
	$(VENV)/bin/zoo check $(DEMO)/artifact

test: install data
	$(PY) -m pytest

bench: install data
	$(PY) -m benchmarks

# dist/repr_zoo-*.whl (the code and zoo/weights.json) and dist/repr_zoo_weights-*.whl
# (the published files of saved_models/, each checked against zoo/weights.json).
wheels: install
	rm -rf build
	$(PY) -m pip wheel --quiet --no-deps -w dist .
	$(PY) -m zoo.export.weights_wheel --out dist

clean:
	rm -rf runs .pytest_cache
