"""Helpers for the servers the tests start as real processes (gunicorn)."""

import os
import signal
import subprocess


def stop_process_group(process: subprocess.Popen) -> None:
    """Stop a server started with ``start_new_session=True`` and all it forked: TERM, then KILL."""
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
