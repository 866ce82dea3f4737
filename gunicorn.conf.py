"""Gunicorn's settings: ``gunicorn -c gunicorn.conf.py recyclic.wsgi``.

Every worker is a process of its own, so the metrics run in prometheus_client's multiprocess
mode: each worker writes its counters to files in ``PROMETHEUS_MULTIPROC_DIR`` and the worker
that answers ``/metrics`` adds up every worker's files, those of workers since replaced included.
See https://prometheus.github.io/client_python/multiprocess/.

Environment, or the ``.env`` beside this file: ``GUNICORN_BIND`` (default ``0.0.0.0:8000``),
``GUNICORN_WORKERS`` (default 2), ``GUNICORN_TIMEOUT`` (default 30 s),
``GUNICORN_CLIENT_TIMEOUT`` (default 5 s: how long a read from or a write to a client may wait),
``GUNICORN_CONTROL_SOCKET`` (default: none),
``PROMETHEUS_MULTIPROC_DIR`` (default: a directory of this server's own under the temporary
directory).

``kill -HUP <master pid>`` starts new workers, which read the settings and ``.env`` afresh (a
variable of the server's own environment still wins over ``.env``), and stops the old ones
gracefully; the metrics directory is kept, so no count is lost.
"""

# Gunicorn reads every global of this file as a setting: helpers are named with an underscore.
import os as _os
import shutil as _shutil
import tempfile as _tempfile
from pathlib import Path as _Path

# Before anything imports prometheus_client: it chooses between in-memory and file-backed values
# when first imported, and the workers inherit the master's choice and environment.
# This file is read again on HUP, in the same master: the default depends on its pid only.
_DEFAULT_MULTIPROC_DIR = str(_Path(_tempfile.gettempdir()) / f"recyclic-prometheus-{_os.getpid()}")
_os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", _DEFAULT_MULTIPROC_DIR)


def _dotenv() -> dict[str, str]:
    """The ``GUNICORN_*`` lines of the ``.env`` beside this file: the README lists them with the
    app's settings, which come from the environment or from ``.env``."""
    try:
        lines = (_Path(__file__).resolve().parent / ".env").read_text("utf-8-sig").splitlines()
    except OSError:
        return {}
    found = (line.strip().partition("=") for line in lines)
    return {
        name.strip(): value.strip().strip("'\"")
        for name, equals, value in found
        if equals and name.strip().startswith("GUNICORN_")
    }


_DOTENV = _dotenv()


def _setting(name: str, default: str) -> str:
    """The environment's value (it wins over .env, as for the app's settings), .env's, or the
    default; kept in the environment, where the workers (and the app's settings) read it. So a
    ``GUNICORN_*`` line changed in .env takes effect at a restart, not at a HUP."""
    value = _os.environ.get(name) or _DOTENV.get(name) or default
    _os.environ[name] = value
    return value


bind = _setting("GUNICORN_BIND", "0.0.0.0:8000").split(",")
# Also read by the app's settings in each worker (RECEPTION_STATS["WORKERS"]): with a
# per-process cache, the API's rate is shared among the workers.
workers = int(_setting("GUNICORN_WORKERS", "2"))
timeout = int(_setting("GUNICORN_TIMEOUT", "30"))
# Read by recyclic/server.py in the workers.
_setting("GUNICORN_CLIENT_TIMEOUT", "5")
# gunicorn's sync worker, whose reads from and writes to a client wait GUNICORN_CLIENT_TIMEOUT
# seconds at most (default 5): a slow client is cut off, not left to hold the worker until it is
# killed (recyclic/server.py). Put a buffering proxy in front all the same (README).
worker_class = "recyclic.server.SyncWorker"
logger_class = "recyclic.server.Logger"
# The access log on stdout, the server's own log on stderr: what a container runtime collects.
accesslog = "-"
# Gunicorn's default (Apache's combined format) and, last, the microseconds the worker spent on the
# request, from its first byte read to its last byte written: the server's own share of the latency.
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(D)s'
errorlog = "-"
# Gunicorn's control socket (gunicornc) defaults to one path per user, which several servers
# would share: opt in with a path of this server's own.
if _control_socket := _setting("GUNICORN_CONTROL_SOCKET", ""):
    control_socket = _control_socket
else:
    control_socket_disable = True
# The workers' heartbeat files (mkstemp, private) in memory rather than on a container's overlay
# filesystem, where a slow write can get a worker killed for silence.
_SHM = "/dev/shm"  # noqa: S108
if _os.path.isdir(_SHM):
    worker_tmp_dir = _SHM


def on_starting(server):
    """Start from an empty metrics directory: files of an earlier run would be added up too."""
    directory = _Path(_os.environ["PROMETHEUS_MULTIPROC_DIR"])
    directory.mkdir(parents=True, exist_ok=True)
    # Empty it rather than remove it: it may be a mounted volume.
    for entry in directory.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            _shutil.rmtree(entry)
        else:
            entry.unlink()
    server.log.info("Prometheus multiprocess directory: %s", directory)


def child_exit(server, worker):
    """A worker is gone (restart, HUP, crash): drop its live gauges; its counters stay counted."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _os.environ["PROMETHEUS_MULTIPROC_DIR"] == _DEFAULT_MULTIPROC_DIR:
        _shutil.rmtree(_os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
