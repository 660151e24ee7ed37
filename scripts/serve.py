"""`make serve`: nginx on BIND (default 127.0.0.1:8000) in front of gunicorn
(gunicorn.conf.py) on a unix socket, until Ctrl-C or SIGTERM stops both.

nginx reads whole requests before gunicorn sees them (see
deploy/nginx.conf.template); its configuration, pid, socket and temporary
files live in a private run directory, removed on exit, so neither needs root.
Exits 1 when either of the two stops on its own (the other is then stopped
too), 0 when stopped by a signal. FRONT_ACCESS_LOG names a file (or /dev/stdout) for
nginx's access log, off by default; gunicorn's is ACCESS_LOG."""

import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import serving


def main():
    listen = os.environ.get("BIND") or "127.0.0.1:8000"
    run_dir = Path(tempfile.mkdtemp(prefix="yangtze-serve-"))
    stop_requested = []

    def request_stop(signum, _frame):
        stop_requested.append(signum)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, request_stop)
    app, front, exited = None, None, None
    try:
        app = serving.start_app(run_dir, os.environ.copy())
        front = serving.start_front(listen, run_dir, app, os.environ)
        server = serving.Server(app, f"http://{listen}", front)
        if not listen.startswith("unix:"):
            serving.wait_until_ready(server, "/robots.txt", timeout=60)
        print(f"Serving on http://{listen}/ (nginx in front of gunicorn; Ctrl-C stops both)", flush=True)
        while not stop_requested and not (exited := server.exited()):
            time.sleep(0.2)
    finally:
        serving.stop_front_and_app(front, app)
        shutil.rmtree(run_dir, ignore_errors=True)
    if stop_requested:
        return 0
    print(f"{exited}; the other was stopped too.", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
