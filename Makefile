# Set-up and everyday commands. `make sample` and `make test` are the README's two commands.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# Debian packages: npm (front-end packages from the npm registry), the Old Standard
# font (renders test and benchmark pages), chromium (the browser tests), redis-server
# (the job queue's Redis tests start a real one); fontconfig and DejaVu (fonts that
# lack a letter, which the synthetic lines of htr/synthetic.py must leave out).
SYSTEM_PACKAGES := fonts-oldstandard fonts-dejavu-core fontconfig chromium redis-server
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Where `make sample` and `make serve` keep their copy of the sample edition (git-ignored).
SAMPLE_EDITION := build/sample-edition
CATALOGS := $(wildcard workbench/web/translations/*/LC_MESSAGES/messages.po)

.PHONY: setup system-packages sample test lint bench serve

$(BIN)/workbench: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,vips]'
	touch $@

# htmx and panzoom come from the npm registry (never a CDN: the reading room may be offline).
node_modules/.package-lock.json: package.json package-lock.json
	@command -v npm >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm; }
	npm ci --no-audit --no-fund --loglevel=error

%.mo: %.po $(BIN)/workbench
	$(BIN)/pybabel compile --use-fuzzy -i $< -o $@

setup: $(BIN)/workbench node_modules/.package-lock.json $(CATALOGS:.po=.mo)

system-packages:
	@if ! dpkg -s $(SYSTEM_PACKAGES) >/dev/null 2>&1; then \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES); fi

# The main job: segment the bundled sample edition with kraken, write and validate its TEI.
# It works on a copy in build/ (made once), so the checkout's committed sample stays as it is.
sample: setup $(SAMPLE_EDITION)/workbench.toml
	$(BIN)/workbench --edition $(SAMPLE_EDITION) segment trifonov-sample
	$(BIN)/workbench --edition $(SAMPLE_EDITION) validate trifonov-sample
	$(BIN)/workbench --edition $(SAMPLE_EDITION) reindex
	$(BIN)/workbench --edition $(SAMPLE_EDITION) search бели ръкави
	@echo
	@echo "Result: $(SAMPLE_EDITION)/tei/trifonov-sample.xml (facsimiles in $(SAMPLE_EDITION)/facsimiles/trifonov-sample/)."
	@echo "To correct it in the browser: $(BIN)/workbench --edition $(SAMPLE_EDITION) user add NAME --role editor"
	@echo "                         then make serve, and open http://localhost:5000/"
	@echo "Readers (no login): http://localhost:5000/read/ — the published edition and its search."

$(SAMPLE_EDITION)/workbench.toml: | $(BIN)/workbench
	$(BIN)/workbench sample $(SAMPLE_EDITION)

serve: setup $(SAMPLE_EDITION)/workbench.toml
	$(BIN)/workbench --edition $(SAMPLE_EDITION) serve

lint: setup
	$(BIN)/ruff check workbench tests bench schemas setup.py
	$(BIN)/ruff format --check workbench tests bench schemas setup.py

test: setup system-packages lint
	$(BIN)/python -m pytest

bench: setup system-packages
	$(BIN)/python bench/validation.py
	$(BIN)/python bench/job_queue.py
	$(BIN)/python bench/saves.py
	$(BIN)/python bench/mixed_load.py
	$(BIN)/python bench/storage.py
	$(BIN)/python bench/crops.py
	$(BIN)/python bench/search.py
	$(BIN)/python bench/search_http.py
	$(BIN)/python bench/segmentation.py
	$(BIN)/python bench/training.py
	$(BIN)/python bench/training_threads.py
	$(BIN)/workbench eval-seg tests/data/ground-truth/*/ --steps none
	$(BIN)/workbench eval-seg tests/data/ground-truth/*/
	$(BIN)/python bench/segmentation_steps.py
	$(BIN)/python bench/added_lines.py
	$(BIN)/python bench/imports.py
	$(BIN)/python bench/tiles.py
	$(BIN)/python bench/verify.py
