# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test browser bench bench-batch clean

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
test: install browser
	$(PY) -m ruff check .
	$(PY) -m pytest; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; rc=0; fi; exit $$rc

# The dashboard's browser test drives Debian's Chromium (Playwright downloads no browser here).
# Installed with apt-get when missing and we are root (CI); otherwise that one test is skipped.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get install -y -q chromium >/dev/null 2>&1 || (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1)) \
	      && echo "installed chromium" || echo "could not install chromium: the browser test will be skipped"; \
	  else echo "chromium missing and not root: the browser test will be skipped"; fi; }

# Throughput of the score path against a plain aiokafka loop, on the embedded stack; then what
# monitoring costs, and the numpy drift check against Evidently's DataDriftPreset.
bench: install
	$(PY) benchmarks/throughput.py
	$(PY) benchmarks/monitor_costs.py

# Batch prediction of a 1M-row file against a plain River loop; full vs compact artifact sizes.
bench-batch: install
	$(PY) benchmarks/batch.py

clean:
	rm -rf $(VENV) .driftline *.egg-info
