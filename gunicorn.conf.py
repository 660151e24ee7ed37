"""gunicorn settings for `make serve` (and the benchmark and load test).
Every value can be overridden from the environment.

Under `make serve` gunicorn sits behind nginx (scripts/serve.py), which binds
it to a unix socket and hands it only whole requests: a slow client waits in
nginx, never in a worker. The benchmark talks to it directly on loopback."""

import multiprocessing
import os

bind = os.environ.get("BIND", "127.0.0.1:8000")
# Two workers per core: while one waits on the database the other computes.
workers = int(os.environ.get("WEB_CONCURRENCY", 2 * multiprocessing.cpu_count()))
worker_class = "sync"
# A request that takes this long is stuck: the worker is killed and replaced.
# nginx waits a little longer for an answer (deploy/nginx.conf.template).
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 30))
graceful_timeout = 20
keepalive = 5
# Bounded request lines and headers (gunicorn answers 400 beyond them).
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
accesslog = os.environ.get("ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# Load the application once in the master, so a restarted worker is ready at
# once; database connections are only opened in the workers.
preload_app = True
