# CityHelix: `make demo` runs a live demo city; `make test` runs lint, types and every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000
HOST ?= 127.0.0.1
# the embedded MQTT broker's port (1883 is often taken by a system Mosquitto)
MQTT_PORT ?= 1884
CODE := src tests $(wildcard benchmarks)

.PHONY: install demo serve test lint types fmt clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

install: $(BIN)/.installed

demo: install
	CITYHELIX_MQTT_PORT=$(MQTT_PORT) $(BIN)/cityhelix demo --host $(HOST) --port $(PORT)

serve: install
	$(BIN)/cityhelix serve --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check $(CODE)
	$(BIN)/ruff format --check $(CODE)

types: install
	$(BIN)/mypy

test: lint types
	$(BIN)/python -m pytest -q -p no:cacheprovider

fmt: install
	$(BIN)/ruff format $(CODE)
	$(BIN)/ruff check --fix $(CODE)

clean:
	rm -rf $(VENV) data .mypy_cache .ruff_cache
