# Two entry points: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= runs/demo
DEMO_PORT ?= 8000

.PHONY: demo test lint typecheck unit install clean browser

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install -e ".[train,cpu,dev]"
	touch $(STAMP)

install: $(STAMP)

# Train (first time only), export, index, then serve the web page and API on 127.0.0.1:8000.
demo: $(STAMP)
	$(BIN)/vcl demo --out $(DEMO_DIR)
	$(BIN)/vcl serve --model $(DEMO_DIR)/model --index $(DEMO_DIR)/index --data-root $(DEMO_DIR)/samples \
		--host 127.0.0.1 --port $(DEMO_PORT)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest

test: lint typecheck unit

# Headless Chromium and its driver for the web-page test (Debian packages; needs root or sudo).
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then echo "chromium present"; \
	else SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && $$SUDO apt-get install -y -q chromium chromium-driver; fi

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache
