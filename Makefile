# The two commands a fresh clone needs; each makes .venv and installs what is missing first.
#   make demo    # the main job: a whole sweep on this machine, no servers (README.md, docs/usage.md)
#   make test    # the whole test suite, starting Redis and PostgreSQL when they are down
# CPU torch comes from TORCH_INDEX (the PyTorch CPU index); set TORCH_INDEX=https://pypi.org/simple
# for PyPI's CUDA build. MNIST comes from MNISTGRID_DATA_DIR, else ../shared/data/mnist if
# present, else it is downloaded.
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
MNISTGRID_DATA_DIR ?= $(abspath $(wildcard ../shared/data/mnist))
export MNISTGRID_DATA_DIR

.PHONY: demo test lint services install

demo: install
	$(VENV)/bin/mnistgrid demo

test: install services
	VENV=$(VENV) scripts/test.sh

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

services:
	sh scripts/start-services.sh

install: $(VENV)/.installed

# torch first and alone: its build (CPU or CUDA) is chosen here, and the project's torch range
# then needs nothing more. --retries 0: an index that cannot be reached fails fast.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -c "import torch" 2>/dev/null \
		|| $(VENV)/bin/pip install -q --retries 0 "$(TORCH)" --index-url $(TORCH_INDEX)
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@
