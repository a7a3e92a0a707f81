# Two commands set up a fresh machine: `make demo` (install + the main job) and `make test` (install + tests).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch is pinned and installed first: an unpinned torch pulls a CUDA build of several GB. (Not --no-compile: with
# PYTHONDONTWRITEBYTECODE set, as on this machine, every process would then compile torch again at import.)
TORCH ?= torch==2.13.0

.PHONY: install demo test lint clean

$(BIN)/distgan: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e '.[test]'
	# distgan's own modules byte-compiled once: with PYTHONDONTWRITEBYTECODE set, every rank and cell process
	# would compile them again at import (about 1.5 s of 10 per process here, under load; a stale one is ignored)
	$(BIN)/python -m compileall -q src
	touch $(BIN)/distgan

install: $(BIN)/distgan

demo: install
	$(BIN)/distgan compare --out runs/compare

# Everything else on every core (pytest-xdist; a module's tests stay on one core, so its module fixture runs once),
# then the heartbeat-timed tests by themselves, so that no other test's load decides them. Both share one
# classifier cache.
TEST_CACHE := $(CURDIR)/.pytest_cache/distgan-classifiers
test: install
	$(BIN)/ruff check .
	DISTGAN_TEST_CACHE=$(TEST_CACHE) $(BIN)/pytest -n auto --dist loadscope -m "not wall_clock"
	DISTGAN_TEST_CACHE=$(TEST_CACHE) $(BIN)/pytest -n auto --dist load -m wall_clock

clean:
	rm -rf $(VENV) runs .pytest_cache
