# Two commands do all the set-up: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint serve clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

## Build the SQLite demo database, print today's figures, then serve on 127.0.0.1:8000.
demo: $(STAMP)
	# Recyclic's tables first: migrate runs the schema check, which wants them there.
	DEBUG=true $(PY) manage.py reception_demo --if-empty
	DEBUG=true $(PY) manage.py migrate --noinput
	DEBUG=true $(PY) manage.py reception_stats --window today
	DEBUG=true $(PY) manage.py reception_demo --staff-login
	DEBUG=true $(PY) manage.py runserver 127.0.0.1:8000

## The whole test suite, on DATABASE_URL (SQLite by default).
test: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	SECRET_KEY=lint $(PY) manage.py makemigrations --check --dry-run

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles .pytest_cache .ruff_cache
