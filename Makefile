# Set-up and everyday commands. `make sample` and `make test` are the README's two commands.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# Debian packages: the Old Standard font renders the test and benchmark pages.
SYSTEM_PACKAGES := fonts-oldstandard
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup system-packages sample test lint bench

$(BIN)/workbench: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

setup: $(BIN)/workbench

system-packages:
	@if ! dpkg -s $(SYSTEM_PACKAGES) >/dev/null 2>&1; then \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES); fi

# The main job: segment the bundled sample edition with kraken, write and validate its TEI.
sample: setup
	$(BIN)/workbench segment trifonov-sample
	$(BIN)/workbench validate trifonov-sample
	@echo
	@echo "Result: tei/trifonov-sample.xml (facsimiles in facsimiles/trifonov-sample/)."
	@echo "See its pages and lines per status with: $(BIN)/workbench status"
	@echo "The web workbench is not part of this version yet; open the TEI in any XML editor."

lint: setup
	$(BIN)/ruff check workbench tests bench schemas
	$(BIN)/ruff format --check workbench tests bench schemas

test: setup system-packages lint
	$(BIN)/python -m pytest

bench: setup system-packages
	$(BIN)/python bench/validation.py
	$(BIN)/python bench/segmentation.py
