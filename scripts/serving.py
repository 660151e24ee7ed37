"""How the site is served: gunicorn behind nginx (`make serve`,
scripts/serve.py), and the helpers the benchmark and the load test share to
serve it on loopback and drive it with wrk.

nginx is configured from deploy/nginx.conf.template; the load test needs
Debian's `nginx` and `wrk` (scripts/system-deps.sh nginx wrk installs them)."""

import contextlib
import grp
import json
import os
import pwd
import re
import runpy
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
NGINX_TEMPLATE = ROOT / "deploy" / "nginx.conf.template"
FRONT_ERRORS = ROOT / "deploy" / "front-errors"
# Room for a multipart body's boundaries and part headers around its files.
MULTIPART_FRAMING_BYTES = 1024 * 1024
# nginx waits this much longer for an answer than gunicorn lets a request run.
READ_TIMEOUT_MARGIN_SECONDS = 5

# wrk prints this Lua's JSON after its own report: latency percentiles (in
# microseconds), requests, errors by kind and non-2xx/3xx answers.
WRK_REPORT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write("JSON" .. string.format(
    '{"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,'
    .. '"p50":%d,"p95":%d,"p99":%d,"max":%d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
"""


class Server:
    """gunicorn (`process`, its master) answering on `url`, directly or
    behind nginx (`front`, nginx's master)."""

    def __init__(self, process, url, front=None):
        self.process = process
        self.url = url
        self.front = front

    def exited(self):
        """The first of gunicorn and nginx that has exited, as text; or None."""
        for name, process in (("gunicorn", self.process), ("nginx", self.front)):
            if process is not None and process.poll() is not None:
                return f"{name} exited with status {process.returncode}"
        return None

    @property
    def pid(self):
        return self.process.pid

    def worker_pids(self):
        """gunicorn's workers: the master's child processes."""
        children = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        return [int(pid) for pid in children.read_text().split()] if children.exists() else []

    def cpu_ticks(self):
        """CPU time used so far by each worker (utime + stime, in ticks)."""
        ticks = {}
        for pid in self.worker_pids():
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                ticks[pid] = int(fields[11]) + int(fields[12])
        return ticks

    def wait_until_idle(self, quiet_seconds=0.05, timeout=60):
        """Until no worker has used CPU for `quiet_seconds`: requests still
        in flight when a load run ends would otherwise delay the next run's
        first requests and show up in its tail."""
        deadline = time.monotonic() + timeout
        before = self.cpu_ticks()
        while time.monotonic() < deadline:
            time.sleep(quiet_seconds)
            after = self.cpu_ticks()
            if after == before:
                return
            before = after

    def peak_memory_mb(self):
        """Each worker's peak resident memory (VmHWM), in MB."""
        peaks = {}
        for pid in self.worker_pids():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks[pid] = int(line.split()[1]) / 1024
        return peaks


@contextlib.contextmanager
def gunicorn(port, environment, workers=2, log_path=None, ready_path="/robots.txt", timeout=60):
    """Serve with gunicorn.conf.py (DEBUG off) on 127.0.0.1:port, without the
    front, until the block ends."""
    env = served_environment(environment, bind=f"127.0.0.1:{port}", workers=workers)
    log = open(log_path or os.devnull, "w")
    process = subprocess.Popen(gunicorn_command(), cwd=ROOT, env=env, stdout=log, stderr=log)
    server = Server(process, f"http://127.0.0.1:{port}")
    try:
        wait_until_ready(server, ready_path, timeout)
        yield server
    finally:
        stop(process, signal.SIGTERM)
        log.close()


@contextlib.contextmanager
def behind_front(port, environment, workers=2, log_path=None, ready_path="/robots.txt", timeout=60):
    """Serve as `make serve` does, nginx on 127.0.0.1:port in front of
    gunicorn, until the block ends. Both write to log_path."""
    run_dir = Path(tempfile.mkdtemp(prefix="yangtze-front-"))
    environment = served_environment(environment, workers=workers)
    log = open(log_path or os.devnull, "w")
    app, front = None, None
    try:
        app = start_app(run_dir, environment, output=log)
        front = start_front(f"127.0.0.1:{port}", run_dir, app, environment, output=log)
        server = Server(app, f"http://127.0.0.1:{port}", front)
        wait_until_ready(server, ready_path, timeout)
        yield server
    finally:
        stop_front_and_app(front, app)
        log.close()
        shutil.rmtree(run_dir, ignore_errors=True)


def served_environment(environment, bind=None, workers=None):
    """os.environ with `environment` over it, DEBUG off, loopback hosts by
    default, and gunicorn's bind address and workers when given."""
    env = {**os.environ, "DEBUG": "False", "ALLOWED_HOSTS": "127.0.0.1,localhost"}
    env.update(environment)
    if bind:
        env["BIND"] = bind
    if workers:
        env["WEB_CONCURRENCY"] = str(workers)
    return env


def gunicorn_command():
    return [str(VENV_BIN / "gunicorn"), "yangtze.wsgi"]


def app_socket(run_dir):
    return Path(run_dir) / "gunicorn.sock"


def start_app(run_dir, environment, output=None):
    """gunicorn on a unix socket in run_dir, reachable only through the front
    (the directory is the invoking user's alone). The app then trusts the one
    X-Forwarded-For entry nginx appends, unless told of more proxies."""
    env = {**environment, "BIND": f"unix:{app_socket(run_dir)}"}
    env["TRUSTED_PROXY_COUNT"] = str(trusted_proxy_count(environment))
    command = [*gunicorn_command(), "--control-socket", str(Path(run_dir) / "gunicorn.ctl")]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=output)


def trusted_proxy_count(environment):
    """nginx, and any proxies the environment says are in front of it."""
    return max(1, int(environment.get("TRUSTED_PROXY_COUNT") or 1))


def start_front(listen, run_dir, app, environment, output=None, timeout=60):
    """nginx on `listen`, once gunicorn (`app`) accepts connections on its socket."""
    wait_for_socket(app, app_socket(run_dir), timeout)
    outer_proxy = trusted_proxy_count(environment) > 1
    config = write_front_files(listen=listen, run_dir=Path(run_dir), outer_proxy=outer_proxy)
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        raise SystemExit("nginx is missing: `bash scripts/system-deps.sh nginx` installs it (Debian/Ubuntu).")
    # -e: the error log before the configuration is read (its default is a
    # system path the invoking user cannot write).
    command = [nginx, "-p", str(run_dir), "-c", str(config), "-e", "stderr"]
    return subprocess.Popen(command, stdout=output, stderr=output)


def write_front_files(*, listen, run_dir, outer_proxy=False):
    """nginx.conf and the front's own error answers, in run_dir: the files
    of deploy/ with their {{name}} values filled in. Returns the config's path.
    Behind an outer proxy (one terminating TLS), the scheme is the one it
    forwards; otherwise nginx's own."""
    errors_dir = run_dir / "front-errors"
    max_body = max_body_bytes()
    values = {
        "listen": listen,
        "run_dir": run_dir,
        "app_socket": app_socket(run_dir),
        "errors_dir": errors_dir,
        "max_body_size": max_body,
        "max_body_mb": f"{max_body / 2**20:.1f}",
        "app_read_timeout": gunicorn_settings()["timeout"] + READ_TIMEOUT_MARGIN_SECONDS,
        "access_log": os.environ.get("FRONT_ACCESS_LOG") or "off",
        "forwarded_proto": "$http_x_forwarded_proto" if outer_proxy else "$scheme",
        "workers_user": workers_user_directive(),
    }
    errors_dir.mkdir()
    for page in FRONT_ERRORS.iterdir():
        (errors_dir / page.name).write_text(fill_in(page.read_text(), values))
    config = run_dir / "nginx.conf"
    config.write_text(fill_in(NGINX_TEMPLATE.read_text(), values))
    return config


def fill_in(template, values):
    """Each {{name}} replaced by values[name] (a KeyError for a name not given)."""
    return re.sub(r"\{\{(\w+)\}\}", lambda match: str(values[match.group(1)]), template)


def workers_user_directive():
    if os.geteuid() != 0:
        return ""
    return f"user {pwd.getpwuid(os.geteuid()).pw_name} {grp.getgrgid(os.getegid()).gr_name};"


def max_body_bytes():
    """The largest request body the app accepts (Django's limit for forms and
    JSON, or the admin import's for a file if larger), so that nginx refuses
    only what the app would refuse anyway; 0 (no limit) if Django has none."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "yangtze.settings")
    import django
    from django.conf import settings

    django.setup()
    if settings.DATA_UPLOAD_MAX_MEMORY_SIZE is None:
        return 0
    return max(settings.DATA_UPLOAD_MAX_MEMORY_SIZE, import_limit_bytes()) + MULTIPART_FRAMING_BYTES


def import_limit_bytes():
    """The admin import's limit for a file (clusters/resources.py), 0 where
    the imports state none."""
    from clusters import resources

    limits = getattr(resources, "ADMIN_IMPORT_LIMITS", None)
    return limits.megabytes * 2**20 if limits else 0


def gunicorn_settings():
    """gunicorn.conf.py's values, read with this process's environment."""
    return runpy.run_path(str(ROOT / "gunicorn.conf.py"))


def wait_for_socket(app, path, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if app.poll() is not None:
            raise SystemExit(f"gunicorn exited with status {app.returncode}; see its log.")
        with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as probe:
            probe.connect(str(path))
            return
        time.sleep(0.1)
    raise SystemExit(f"gunicorn did not listen on {path} within {timeout} s.")


def stop_front_and_app(front, app):
    """nginx first, gracefully (SIGQUIT: it finishes the requests it holds,
    which gunicorn still serves), then gunicorn (SIGTERM: graceful too)."""
    if front is not None:
        stop(front, signal.SIGQUIT)
    if app is not None:
        stop(app, signal.SIGTERM)


def stop(process, signum, timeout=30):
    if process.poll() is None:
        process.send_signal(signum)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_until_ready(server, path, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.exited():
            raise SystemExit(f"{server.exited()}; see its log.")
        try:
            with urllib.request.urlopen(server.url + path, timeout=5):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.3)
    raise SystemExit(f"{server.url} did not answer {path} within {timeout} s.")


def wrk(url, seconds, connections, threads=2, headers=(), lua=""):
    """One wrk run; returns its figures (latencies in ms, rate in req/s)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua + WRK_REPORT)
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        script.name,
    ]
    for header in headers:
        command += ["-H", header]
    try:
        output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(script.name)
    line = next(line for line in output.splitlines() if line.startswith("JSON"))
    raw = json.loads(line.removeprefix("JSON"))
    errors = sum(raw[kind] for kind in ("connect", "read", "write", "timeout"))
    return {
        "requests": raw["requests"],
        "rps": raw["requests"] / (raw["duration_us"] / 1e6),
        "p50_ms": raw["p50"] / 1000,
        "p95_ms": raw["p95"] / 1000,
        "p99_ms": raw["p99"] / 1000,
        "max_ms": raw["max"] / 1000,
        "socket_errors": errors,
        "bad_status": raw["status"],
    }


def free_port():
    """A loopback TCP port that nothing listens on just now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def paths_lua(paths):
    """wrk Lua sending each request to a random one of `paths` (list a path
    several times to weight it); each wrk thread draws its own sequence.
    The paths must already be URL-encoded."""
    listed = ",\n".join(f"  {json.dumps(path)}" for path in paths)
    return f"""
local paths = {{
{listed}
}}
local threads_started = 0
setup = function(thread)
  threads_started = threads_started + 1
  thread:set("thread_number", threads_started)
end
init = function(args)
  math.randomseed(os.time() * 1000 + thread_number * 7919)
end
request = function()
  return wrk.format("GET", paths[math.random(#paths)])
end
"""
