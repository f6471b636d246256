# Set-up and everyday commands. A fresh machine needs only `make demo` (install + demo) and `make test`.
PYTHON ?= python3
VENV ?= .venv
# A CPU build of torch; on a GPU machine use `make TORCH=torch`, or `make VENV_ARGS=--system-site-packages` to
# reuse a torch that the system Python already has (torch is installed only when the venv cannot import it).
TORCH ?= torch==2.13.0
VENV_ARGS ?=
BIN := $(VENV)/bin

.PHONY: install demo test clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV_ARGS) $(VENV)

$(VENV)/.installed: $(BIN)/activate pyproject.toml
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q --no-deps recbole==1.2.1
	$(BIN)/pip install -q -e ".[test,analysis,tune]"
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/python -m recbole_hybrid demo

test: install
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) saved log log_tensorboard .pytest_cache
