# diffviz — the two commands a newcomer needs:  `make dashboard`  and  `make test`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
PIP     := $(BIN)/pip install -c constraints.txt
STAMP   := $(VENV)/.installed
PORT    ?= 8866

.PHONY: venv dashboard test test-fast browsers benchmarks clean wheel

$(STAMP): pyproject.toml setup.py constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(PIP) -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

## the main job: the lecture dashboard on the bundled model, served on 127.0.0.1
dashboard: $(STAMP)
	$(BIN)/diffviz dashboard --port $(PORT)

## the wheel a course installs (dist/diffviz-<version>-py3-none-any.whl): chapters, dashboards and both models inside
wheel: $(STAMP)
	$(BIN)/pip wheel --no-deps -q -w dist .
	@ls -l dist/diffviz-*.whl

## Debian's Chromium for the real-browser tests (Playwright drives /usr/bin/chromium; no browser download)
browsers:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null)

## the test suite (unit, notebook and real-browser tests)
test: $(STAMP) browsers
	$(BIN)/pytest -q

test-fast: $(STAMP)
	$(BIN)/pytest -q -m "not browser and not slow"

benchmarks: $(STAMP)
	$(BIN)/python benchmarks/sampling_overhead.py
	$(BIN)/python benchmarks/fid_speed.py
	$(BIN)/python benchmarks/model_quality.py
	$(BIN)/python benchmarks/word_maps.py
	$(BIN)/python benchmarks/widget_payload.py
	$(BIN)/python benchmarks/training_lab.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
