"""Shared by the benchmark and the load test: serve the site with gunicorn
on loopback as `make serve` does, and drive it with wrk.

Both need Debian's `wrk` (scripts/system-deps.sh wrk installs it)."""

import contextlib
import json
import os
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
    def __init__(self, process, url):
        self.process = process
        self.url = url

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
    """Serve with gunicorn.conf.py (DEBUG off) until the block ends."""
    env = {**os.environ, "DEBUG": "False", "ALLOWED_HOSTS": "127.0.0.1,localhost"}
    env.update(environment)
    env.update(BIND=f"127.0.0.1:{port}", WEB_CONCURRENCY=str(workers))
    log = open(log_path or os.devnull, "w")
    process = subprocess.Popen(
        [str(VENV_BIN / "gunicorn"), "yangtze.wsgi"], cwd=ROOT, env=env, stdout=log, stderr=log
    )
    server = Server(process, f"http://127.0.0.1:{port}")
    try:
        wait_until_ready(server, ready_path, timeout)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def wait_until_ready(server, path, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise SystemExit(f"gunicorn exited with status {server.process.returncode}; see its log.")
        try:
            with urllib.request.urlopen(server.url + path, timeout=5):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.3)
    raise SystemExit(f"gunicorn did not answer {path} within {timeout} s.")


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
