"""Servers in child pxpython processes, and the clients the tests talk to them with.

A test starts a server script or app with ServerProcess; the child prints one line with its
URL, serves until the test stops it (SIGTERM by default), and its stderr is kept for the
assertions. The clients are real: raw sockets, http.client and curl.
"""
import atexit
import fcntl
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
APPS = os.path.join(HERE, "apps")
URL = re.compile(rb"http://127\.0\.0\.1:(\d+)/")
START_TIMEOUT = 30.0  # a sanitizer build starts slowly
# Files the apps serve live in a temporary folder of this test process.
SCRATCH = tempfile.mkdtemp(prefix="pxkit-server-tests-")
atexit.register(shutil.rmtree, SCRATCH, True)
DATA = os.path.join(SCRATCH, "data.bin")
with open(DATA, "wb") as _f:
    _f.write(bytes(range(256)) * 4096)  # 1 MiB, byte i is i % 256


def append_only_tempfile():
    """A temporary file for a child's output that the parent reads while the child writes.

    The child writes through the same open file, so without O_APPEND a line it writes between
    the parent's seek(0) and read() lands at offset 0, over an earlier line."""
    f = tempfile.TemporaryFile()
    flags = fcntl.fcntl(f.fileno(), fcntl.F_GETFL)
    fcntl.fcntl(f.fileno(), fcntl.F_SETFL, flags | os.O_APPEND)
    return f


def read_all(f):
    """Everything written to f so far, read at offset 0 without moving the file's offset: the
    child shares that offset, and with O_APPEND each of its writes moves it to the end, so a
    write between a seek(0) and a read() would make the read return nothing."""
    size = os.fstat(f.fileno()).st_size
    return os.pread(f.fileno(), size, 0)


def sanitizer_reports(pid):
    """The report files a sanitizer run with log_path=P (in *SAN_OPTIONS) wrote for pid: P.pid.
    Without them a child that exits with the sanitizer's status (66 for TSan) shows nothing."""
    paths = []
    for var in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "TSAN_OPTIONS"):
        for option in os.environ.get(var, "").split(":"):
            if option.startswith("log_path="):
                path = "%s.%d" % (option[len("log_path="):], pid)
                if os.path.exists(path) and path not in paths:
                    paths.append(path)
    return paths


class ServerProcess:
    """pxpython ARGS in a new session (so SIGINT is not ignored, as it is in background jobs),
    cwd = the apps folder; .port once it printed its URL."""

    def __init__(self, *args, env=None):
        self.stderr_file = append_only_tempfile()
        full_env = dict(os.environ)
        full_env["PYTHONPATH"] = APPS
        full_env["PX_WEB_DATA"] = DATA
        full_env.update(env or {})
        self.proc = subprocess.Popen([sys.executable, *args], cwd=APPS, stdout=subprocess.PIPE,
                                     stderr=self.stderr_file, env=full_env,
                                     start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        line = b""
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            m = URL.search(line)
            if m:
                self.port = int(m.group(1))
                return
            if not line and self.proc.poll() is not None:
                break
        self.proc.kill()
        self.proc.wait()
        raise AssertionError("server did not start: stdout %r, stderr:\n%s" % (line, self.stderr()))

    @classmethod
    def app(cls, spec, workers=2, env=None):
        return cls("-m", "parallel.http", spec, "--port", "0", "--workers", str(workers), env=env)

    def stderr(self):
        """The child's stderr, then any sanitizer report it wrote to a log_path file."""
        text = read_all(self.stderr_file).decode("utf-8", "replace")
        for path in sanitizer_reports(self.proc.pid):
            with open(path, encoding="utf-8", errors="replace") as f:
                text += "\n--- %s ---\n%s" % (path, f.read())
        return text

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Sends sig, waits; returns (exit status, seconds it took)."""
        t0 = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("server did not exit within %.0f s of signal %d; stderr:\n%s"
                                 % (timeout, sig, self.stderr()))
        rest = self.proc.stdout.read()
        self.proc.stdout.close()
        self.stdout_rest = rest.decode("utf-8", "replace")
        return self.proc.returncode, time.monotonic() - t0

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if not self.proc.stdout.closed:
            self.proc.stdout.close()
        self.stderr_file.close()

    def connect(self, timeout=10.0):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s


def recv_exactly(sock, n):
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            break
        out += chunk
    return out


def recv_until_closed(sock):
    out = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return out
        out += chunk


def read_response(sock_file):
    """One HTTP/1.1 response from a socket's makefile('rb'): (status, headers, body)."""
    status_line = sock_file.readline()
    if not status_line:
        return None
    status = int(status_line.split()[1])
    headers = {}
    while True:
        line = sock_file.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = sock_file.read(int(headers.get("content-length", "0")))
    return status, headers, body


def curl(*args):
    """curl -s ARGS; (exit status, stdout bytes)."""
    out = subprocess.run(["curl", "-s", "--max-time", "20", *args], capture_output=True)
    return out.returncode, out.stdout
