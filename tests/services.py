"""The Redis server the cache tests use: 127.0.0.1:6379, databases 15, 14 and 13 (the suite's own).

The in-process tests share database 15; the gunicorn test, which empties its database before
and after, has 14 to itself, and the Compose services run by tests/test_deploy.py have 13.
"""

import socket

REDIS_PORT = 6379
REDIS_URL = f"redis://127.0.0.1:{REDIS_PORT}/15"
GUNICORN_REDIS_URL = f"redis://127.0.0.1:{REDIS_PORT}/14"
DEPLOY_REDIS_URL = f"redis://127.0.0.1:{REDIS_PORT}/13"


def redis_listens() -> bool:
    try:
        socket.create_connection(("127.0.0.1", REDIS_PORT), timeout=1).close()
    except OSError:
        return False
    return True
