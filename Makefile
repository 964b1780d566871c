# CityHelix: `make demo` runs a live demo city; `make test` runs lint, types and every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000
HOST ?= 127.0.0.1
# the embedded MQTT broker's port (1883 is often taken by a system Mosquitto)
MQTT_PORT ?= 1884
CODE := src tests $(wildcard benchmarks)

.PHONY: install demo serve test fuzz lint types fmt clean messages

VENDOR := src/cityhelix/web/static/vendor

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

# the web console's front-end packages: pinned by package-lock.json, served from our origin
# (--ignore-scripts: no package runs code at install time)
$(VENDOR)/.installed: package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	mkdir -p $(VENDOR)
	cp node_modules/maplibre-gl/dist/maplibre-gl-csp.js \
	   node_modules/maplibre-gl/dist/maplibre-gl-csp-worker.js \
	   node_modules/maplibre-gl/dist/maplibre-gl.css \
	   node_modules/echarts/dist/echarts.min.js \
	   node_modules/htmx.org/dist/htmx.min.js \
	   node_modules/swagger-ui-dist/swagger-ui-bundle.js \
	   node_modules/swagger-ui-dist/swagger-ui.css $(VENDOR)/
	touch $@

install: $(BIN)/.installed $(VENDOR)/.installed

demo: install
	CITYHELIX_MQTT_PORT=$(MQTT_PORT) $(BIN)/cityhelix demo --host $(HOST) --port $(PORT)

serve: install
	$(BIN)/cityhelix serve --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check $(CODE)
	$(BIN)/ruff format --check $(CODE)

types: install
	$(BIN)/mypy

# every test, the fuzz stage (tests/fuzz, a fixed time budget on each backend) included, on
# two workers, a test file each at a time (module fixtures such as a served city or a
# browser are made once per file): half of the suite's time is waiting on processes
test: lint types
	$(BIN)/python -m pytest -q -p no:cacheprovider -n 2 --dist loadfile

# the fuzz stage alone: schemathesis over /openapi.json and the hostile-request generator,
# against real serve processes on SQLite and PostgreSQL
fuzz: install
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/fuzz

fmt: install
	$(BIN)/ruff format $(CODE)
	$(BIN)/ruff check --fix $(CODE)

clean:
	rm -rf $(VENV) data .mypy_cache .ruff_cache node_modules $(VENDOR)

# the web layer's UI text: extract the source strings, merge them into each catalogue
messages: install
	$(BIN)/pybabel extract -F babel.cfg -k N_ --no-location --sort-output --project CityHelix \
	  -o src/cityhelix/web/i18n/messages.pot .
	$(BIN)/pybabel update -i src/cityhelix/web/i18n/messages.pot -d src/cityhelix/web/i18n \
	  --no-location --no-fuzzy-matching
