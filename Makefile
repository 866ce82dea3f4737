# Two commands do all the set-up: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
# The port `make demo`, `make dev` and `make serve` listen on (127.0.0.1 only).
PORT ?= 8000
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed

.PHONY: install demo dev serve browser nginx test lint clean bench load

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

## A .env with a secret key of this checkout's own, written once and never overwritten: the
## README's commands (.venv/bin/python manage.py …) then work as written after `make demo`.
.env:
	@$(PYTHON) -c 'import secrets; print("# Written by make demo for this checkout; keep it out of git.\nSECRET_KEY=" + secrets.token_urlsafe(50) + "\n# Stands for Recyclic'"'"'s own SECRET_KEY in the demo: it signs the demo'"'"'s Recyclic tokens.\nRECYCLIC_SECRET_KEY=" + secrets.token_urlsafe(32))' > .env
	@echo "Wrote .env (secret keys for this checkout)."

## Build the SQLite demo database, print today's figures, then serve on 127.0.0.1:$(PORT).
demo: export DEBUG = true
demo: export LOG_FORMAT = plain
demo: $(STAMP) .env
	$(PY) manage.py reception_demo --if-empty  # Recyclic's tables first: migrate then finds them
	$(PY) manage.py migrate --noinput
	$(PY) manage.py reception_stats --window today
	$(PY) manage.py reception_demo --staff-login --address http://127.0.0.1:$(PORT)/admin/
	$(PY) manage.py reception_demo --recyclic-login --address http://127.0.0.1:$(PORT)/admin/
	$(PY) manage.py runserver 127.0.0.1:$(PORT)

## Django's development server on what DATABASE_URL holds (DEBUG on, reloads the code).
dev: export DEBUG = true
dev: export LOG_FORMAT = plain
dev: $(STAMP) .env
	$(PY) manage.py migrate --noinput
	$(PY) manage.py runserver 127.0.0.1:$(PORT)

## Serve as production does: gunicorn (two workers, multiprocess metrics), DEBUG off, on
## 127.0.0.1:$(PORT). It redirects to https: put a TLS proxy in front (README), or try it with
## SECURE_SSL_REDIRECT=false.
serve: $(STAMP) .env
	$(PY) manage.py collectstatic --noinput --verbosity 0
	DEBUG=false GUNICORN_BIND=127.0.0.1:$(PORT) $(BIN)/gunicorn -c gunicorn.conf.py recyclic.wsgi

## Debian's Chromium for the admin page's browser test (Playwright drives it; no browser download).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "Installing Debian's chromium for the browser test"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	} || echo "chromium could not be installed: the browser test will be skipped"

## Debian's nginx for the test of deploy/nginx (tests/test_nginx.py); /usr/sbin is not on every PATH.
nginx:
	@{ command -v nginx >/dev/null 2>&1 || test -x /usr/sbin/nginx; } || { \
		echo "Installing Debian's nginx for the nginx test"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null; \
	} || echo "nginx could not be installed: the nginx test will be skipped"

## The whole test suite, on DATABASE_URL (SQLite by default).
test: $(STAMP) browser nginx
	$(BIN)/pytest $(PYTEST_ARGS)

## The benchmark (docs/performance.md): DROPS and re-creates BENCH_DATABASE_URL
## (default postgres://postgres@127.0.0.1:5432/reception_stats_bench). BENCH_ARGS="--sizes 5000";
## the data shapes of docs/performance.md: BENCH_ARGS="--shape small" (long, busy), or "--shape all" for the
## three in turn (two loads of 1,000,000 tickets: about 15 minutes on 2 cores).
bench: $(STAMP)
	$(PY) -m bench.run $(BENCH_ARGS)

## 50 screens polling the API through gunicorn for 60 s, on the same bench database.
load: $(STAMP)
	$(PY) -m bench.load $(LOAD_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	SECRET_KEY=lint $(PY) manage.py makemigrations --check --dry-run

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles .pytest_cache .ruff_cache
