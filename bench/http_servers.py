#!/usr/bin/env python3
"""pxkit's HTTP server against the servers a Python user would run instead, measured with wrk in
one run, so the ratios printed hold for this machine at this moment (bench/README.md, "HTTP
servers").

    python3 bench/http_servers.py [--pxpython PATH|build] [--quick] [--repeat N] [--uvicorn]
                                  [--wiki-data DIR] [--no-deps]

Every server is started here on a free port of 127.0.0.1, polled until /hello answers
"Hello, World!", warmed up for a second, measured with `wrk -t2 -c64 -d10s --latency` (-d3s with
--quick) and stopped (SIGTERM to its process group, SIGKILL after 10 s). Its output and wrk's go
to build/bench-logs/http-<time>/. The Python peers are Debian's packages on Debian's
/usr/bin/python3.11 (bench/deps.sh installs them); pxkit runs on pxpython:

    PXPYTHON -m parallel.http pxkit_app:App --host 127.0.0.1 --port P --workers N

Printed: a table of /hello (requests/s, p50, p99, ratio to the best single-process Python server
and to gunicorn with 2 sync workers, errors), the CPU-bound /cpu route with pxkit 2 workers vs 1
(gunicorn 2 vs 1 beside it), PASS/FAIL for the goals, and with --wiki-data the memory of the
WSGI wiki app under gunicorn. Exit status: 0 unless pxkit was asked for (--pxpython) and failed
to run or missed a goal (1); 2 if nothing can be measured (no wrk).
"""
import argparse
import contextlib
import grp
import http.client
import json
import os
import pwd
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field

import proc_memory

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
APPS = os.path.join(BENCH, 'http_apps')
HELLO = b'Hello, World!'
STOP_TIMEOUT_S = 10
START_TIMEOUT_S = 30

# The goals (issue text): pxkit against the best single-process Python server, against the
# 2-worker pre-fork server, and 2 workers against 1 on a CPU-bound route.
GOAL_VS_SINGLE = 3.0
GOAL_VS_PREFORK = 1.5
GOAL_CPU_SCALING = 1.8
# gunicorn's 2 processes against 1 on /cpu is the control: below this, the machine, not the
# server, limited the 2-vs-1 figures of the run.
CONTROL_SCALING = 1.6


# ---------------------------------------------------------------------------------------------
# wrk output

TIME_UNITS = {'us': 1e-3, 'ms': 1.0, 's': 1e3, 'm': 60e3, 'h': 3600e3}  # to milliseconds
TIME = r'([\d.]+)(us|ms|s|m|h)'


@dataclass
class WrkResult:
    requests: int          # responses completed, whatever their status
    seconds: float
    rps: float             # wrk's Requests/sec (every completed response)
    p50_ms: float
    p99_ms: float
    socket_errors: dict    # connect, read, write, timeout
    non_2xx: int           # non-2xx or 3xx responses

    @property
    def good_rps(self):
        """Responses with a 2xx/3xx status per second: what the ratios are computed from."""
        return (self.requests - self.non_2xx) / self.seconds if self.seconds else 0.0

    def problems(self):
        """What makes this run suspect, as short phrases; empty when it is clean."""
        problems = []
        if self.non_2xx:
            problems.append(f'{self.non_2xx} non-2xx')
        problems += [f'{n} {kind} errors' for kind, n in self.socket_errors.items() if n]
        if self.requests == self.non_2xx:
            problems.append('no good response')
        return problems


def to_ms(value, unit):
    return float(value) * TIME_UNITS[unit]


def parse_wrk(text):
    """WrkResult from `wrk --latency` output; ValueError naming what is missing."""
    def need(pattern, what):
        match = re.search(pattern, text, re.MULTILINE)
        if not match:
            raise ValueError(f'wrk output has no {what}')
        return match

    done = need(r'^\s*(\d+) requests in ' + TIME, 'request count')
    rps = need(r'^Requests/sec:\s+([\d.]+)', 'Requests/sec line')
    p50 = need(r'^\s*50(?:\.0+)?%\s+' + TIME + r'\s*$', 'latency distribution (--latency)')
    p99 = need(r'^\s*99(?:\.0+)?%\s+' + TIME + r'\s*$', '99% latency')
    socket_errors = dict.fromkeys(('connect', 'read', 'write', 'timeout'), 0)
    errors = re.search(r'Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)',
                       text)
    if errors:
        socket_errors = dict(zip(socket_errors, map(int, errors.groups())))
    non_2xx = re.search(r'Non-2xx or 3xx responses: (\d+)', text)
    return WrkResult(requests=int(done.group(1)), seconds=to_ms(*done.group(2, 3)) / 1e3,
                     rps=float(rps.group(1)), p50_ms=to_ms(*p50.groups()),
                     p99_ms=to_ms(*p99.groups()), socket_errors=socket_errors,
                     non_2xx=int(non_2xx.group(1)) if non_2xx else 0)


# ---------------------------------------------------------------------------------------------
# Servers: start, wait, stop

@dataclass
class Server:
    label: str                 # the table's row name
    key: str                   # file names under the log directory
    command: object            # port -> argv
    kind: str                  # single (single-process Python), prefork, ceiling, pxkit, info
    env: dict = field(default_factory=dict)
    setup: object = None       # port -> None, before start (nginx writes its config)
    cleanup: object = None


@dataclass
class Measured:
    server: Server
    results: dict = field(default_factory=dict)   # path -> WrkResult
    error: str = ''                               # why it was not measured


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def http_get(port, path, timeout=2.0):
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=timeout)
    try:
        conn.request('GET', path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def wait_ready(proc, port, path, timeout=START_TIMEOUT_S):
    """Poll path until it answers 200; return its body, or raise RuntimeError."""
    deadline = time.monotonic() + timeout
    last = 'no answer'
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f'exited with status {proc.returncode} before answering')
        try:
            status, body = http_get(port, path)
            if status == 200:
                return body
            last = f'status {status}'
        except (OSError, http.client.HTTPException) as e:
            last = f'{type(e).__name__}: {e}'
        time.sleep(0.1)
    raise RuntimeError(f'no 200 on {path} within {timeout} s ({last})')


def stop(proc, timeout=STOP_TIMEOUT_S):
    """SIGTERM the server, then what is left of its process group once it has exited (a master
    stops its own workers: signalling them first would only make it log their deaths); SIGKILL
    the group if anything is still there after timeout seconds."""
    pgid = proc.pid  # started with start_new_session: the leader's pid is the group's id
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGTERM)
    deadline, group_signalled = time.monotonic() + timeout, False
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            if not proc_memory.group_pids(pgid):
                return 'stopped'
            if not group_signalled:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pgid, signal.SIGTERM)
                group_signalled = True
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    proc.wait()
    return f'killed (still running {timeout} s after SIGTERM)'


class Running:
    """A started server: `with Running(server, logs) as run: run.port, run.proc`."""

    def __init__(self, server, logs):
        self.server, self.logs, self.port, self.proc = server, logs, free_port(), None

    def __enter__(self):
        if self.server.setup:
            self.server.setup(self.port)
        argv = self.server.command(self.port)
        self.log = open(os.path.join(self.logs, f'{self.server.key}.log'), 'wb')
        self.log.write(f'$ {" ".join(argv)}\n'.encode())
        self.log.flush()
        env = dict(os.environ, **self.server.env)
        try:
            self.proc = subprocess.Popen(argv, cwd=APPS, env=env, stdin=subprocess.DEVNULL,
                                         stdout=self.log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        except OSError:
            self.log.close()
            raise
        return self

    def __exit__(self, *exc):
        how = stop(self.proc)
        self.log.close()
        if self.server.cleanup:
            self.server.cleanup()
        if how != 'stopped':
            print(f'  note: {self.server.label}: {how}')
        return False


def run_wrk(args, port, path, seconds, log_path=None, script=None):
    argv = ['wrk', f'-t{args.threads}', f'-c{args.connections}', f'-d{seconds}s', '--latency']
    if script:
        argv += ['-s', script]
    argv.append(f'http://127.0.0.1:{port}{path}')
    done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=seconds + 60)
    if log_path:
        with open(log_path, 'a') as f:
            f.write(f'$ {" ".join(argv)}\n{done.stdout}\n')
    if done.returncode != 0:
        raise RuntimeError(f'wrk exited with {done.returncode}: {done.stdout.strip()[-200:]}')
    return parse_wrk(done.stdout)


def measure(args, server, paths, logs):
    """Start server, check every path, then wrk each one (best of --repeat); stop it."""
    measured = Measured(server)
    try:
        with Running(server, logs) as run:
            wait_ready(run.proc, run.port, '/hello')
            for path in paths:
                status, body = http_get(run.port, path, timeout=10)
                expected = HELLO if path == '/hello' else None
                if status != 200 or (expected and body != expected):
                    raise RuntimeError(f'{path} answered {status} {body[:60]!r}')
            wrk_log = os.path.join(logs, f'{server.key}.wrk.txt')
            for path in paths:
                run_wrk(args, run.port, path, 1, wrk_log)  # warm-up: connections, caches
                runs = [run_wrk(args, run.port, path, args.seconds, wrk_log)
                        for _ in range(args.repeat)]
                measured.results[path] = max(runs, key=lambda r: r.good_rps)
                if run.proc.poll() is not None:
                    raise RuntimeError(f'exited with status {run.proc.returncode} under load')
    except (RuntimeError, ValueError, OSError, http.client.HTTPException,
            subprocess.TimeoutExpired) as e:
        measured.error = f'{e} (log: {os.path.relpath(logs, REPO)}/{server.key}.log)'
    return measured


# ---------------------------------------------------------------------------------------------
# The servers

def nginx_server(prefix):
    """nginx as the current user: -p prefix -c conf, daemon off, 2 workers, `return 200`."""
    conf = os.path.join(prefix, 'nginx.conf')
    user = ''
    if os.geteuid() == 0:  # a root master would hand its workers to another user
        user = (f'user {pwd.getpwuid(os.geteuid()).pw_name} '
                f'{grp.getgrgid(os.getegid()).gr_name};')

    def setup(port):
        temp = {name: os.path.join(prefix, name) for name in
                ('client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi')}
        for path in temp.values():
            os.makedirs(path, exist_ok=True)
        with open(conf, 'w') as f:
            f.write(f'''{user}
daemon off;
worker_processes 2;
pid {prefix}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {temp['client_body']};
    proxy_temp_path {temp['proxy']};
    fastcgi_temp_path {temp['fastcgi']};
    uwsgi_temp_path {temp['uwsgi']};
    scgi_temp_path {temp['scgi']};
    server {{
        listen 127.0.0.1:{port};
        default_type text/plain;
        location / {{ return 200 "Hello, World!"; }}
    }}
}}
''')

    return Server('nginx 2 workers, return 200', 'nginx',
                  lambda port: ['nginx', '-e', 'stderr', '-p', prefix, '-c', conf], 'ceiling',
                  setup=setup)


def gunicorn(stock, workers, app='wsgi_app:application', extra=()):
    return lambda port: [stock, '-m', 'gunicorn', '--workers', str(workers),
                         '--worker-class', 'sync', '--bind', f'127.0.0.1:{port}',
                         '--log-level', 'warning', *extra, app]


def uvicorn(stock, workers):
    return lambda port: [stock, '-m', 'uvicorn', 'uvicorn_app:app', '--host', '127.0.0.1',
                         '--port', str(port), '--workers', str(workers), '--no-access-log',
                         '--lifespan', 'off', '--log-level', 'warning']


def pxkit_server(pxpython, workers):
    return Server(f'pxkit {workers} worker{"s" * (workers > 1)}', f'pxkit-{workers}',
                  lambda port: [pxpython, '-m', 'parallel.http', 'pxkit_app:App', '--host',
                                '127.0.0.1', '--port', str(port), '--workers', str(workers)],
                  'pxkit', env={'PYTHONPATH': os.pathsep.join(
                      filter(None, [APPS, os.environ.get('PYTHONPATH')]))})


# ---------------------------------------------------------------------------------------------
# pxpython, versions, the load on the machine

def find_pxpython(args):
    """(path, None) when pxkit can be measured, else (None, why not)."""
    if args.pxpython is None:
        return None, ('no --pxpython given (`interp/build.sh release | tail -1` prints the '
                      "cached interpreter's path; `--pxpython build` runs it, which builds "
                      'pxpython if it is not cached)')
    path = args.pxpython
    if path == 'build':
        done = subprocess.run([os.path.join(REPO, 'interp', 'build.sh'), 'release'],
                              stdout=subprocess.PIPE, text=True)
        lines = done.stdout.strip().splitlines()
        if done.returncode != 0 or not lines:
            return None, f'interp/build.sh release failed (status {done.returncode})'
        path = lines[-1]
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        return None, f'{path} is not an executable file'
    check = subprocess.run([path, '-c', 'import parallel.http'], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    if check.returncode != 0:
        last = (check.stdout.strip().splitlines() or ['?'])[-1]
        return None, f'{path} cannot import parallel.http ({last})'
    return path, None


def command_output(argv):
    """stdout and stderr of a short command, '' if it cannot run."""
    try:
        return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ''


def versions(stock, pxpython, with_uvicorn):
    modules = ['aiohttp', 'tornado', 'gunicorn'] + ['uvicorn', 'uvloop'] * with_uvicorn
    code = ('import sys, importlib\nprint("python", sys.version.split()[0])\n'
            f'for m in {modules!r}:\n'
            '    try: mod = importlib.import_module(m)\n'
            '    except ImportError: print(m, "missing"); continue\n'
            '    print(m, getattr(mod, "__version__", None) or getattr(mod, "version", "?"))\n')
    out = command_output([stock, '-c', code]).split()
    parts = [f'{a} {b}' for a, b in zip(out[::2], out[1::2])]
    nginx = command_output(['nginx', '-v']).strip()
    parts.append(nginx.split(': ')[-1].replace('/', ' ') if nginx else 'nginx missing')
    parts.append(' '.join(command_output(['wrk', '-v']).split()[:2]))
    if pxpython:
        parts.append(f'pxpython {pxpython}')
    return f'{stock}: ' + ', '.join(parts)


def loadavg():
    with open('/proc/loadavg') as f:
        return ' '.join(f.read().split()[:3])


# ---------------------------------------------------------------------------------------------
# Memory of the wiki app (--wiki-data)

def sample_titles(data_dir, count, seed=0):
    """count titles drawn uniformly (reservoir sampling: titles.txt may hold 10^7 lines)."""
    rng, sample = random.Random(seed), []
    with open(os.path.join(data_dir, 'titles.txt'), encoding='utf-8', newline='\n') as f:
        for i, line in enumerate(f):
            title = line.rstrip('\n')
            if i < count:
                sample.append(title)
            elif (j := rng.randrange(i + 1)) < count:
                sample[j] = title
    return sample


def wiki_lua(paths, directory):
    """A wrk script requesting the given paths at random (quoted paths: ASCII, no quotes)."""
    script = os.path.join(directory, 'wiki_paths.lua')
    with open(script, 'w') as f:
        f.write('local paths = {\n')
        f.writelines(f'  "{p}",\n' for p in paths)
        f.write('}\nrequest = function()\n'
                '  return wrk.format("GET", paths[math.random(#paths)])\nend\n')
    return script


def settled_memory(pid, timeout=300):
    """Tree memory once it stops growing: one worker answering does not mean the other has
    finished loading its copy of the index."""
    previous = proc_memory.tree_memory(pid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.5)
        current = proc_memory.tree_memory(pid)
        if current['pids'] == previous['pids'] and current['rss'] <= previous['rss'] * 1.01:
            return current
        previous = current
    return previous


WIKI_SERVER = os.path.join(REPO, 'examples', 'wiki', 'server.py')


def wiki_servers(stock, pxpython, data):
    """The wiki app under gunicorn (index loaded once before the fork, and once per worker),
    and pxkit's wiki server (examples/wiki/server.py) when there is a pxpython to run it."""
    env = {'PXKIT_WIKI_DATA': data}
    servers = [Server('gunicorn 2 sync, --preload', 'wiki-gunicorn-preload',
                      gunicorn(stock, 2, 'wiki_wsgi:application', ['--preload']), 'prefork',
                      env=env),
               Server('gunicorn 2 sync, index per worker', 'wiki-gunicorn',
                      gunicorn(stock, 2, 'wiki_wsgi:application'), 'prefork', env=env)]
    if pxpython and os.path.exists(WIKI_SERVER):
        servers.append(Server('pxkit 2 workers', 'wiki-pxkit',
                              lambda port: [pxpython, WIKI_SERVER, '--host', '127.0.0.1',
                                            '--port', str(port), '--workers', '2'],
                              'pxkit', env=env))
    return servers


def measure_wiki(args, servers, logs, tmp):
    """Each wiki server's memory (sum over its process tree) once loaded, and after --seconds
    of wrk requesting 1000 random articles."""
    data = os.path.abspath(args.wiki_data)
    titles = sample_titles(data, 1000)
    paths = ['/wiki/' + urllib.parse.quote(t, safe='') for t in titles]
    script = wiki_lua(paths, tmp)
    rows = []
    for server in servers:
        try:
            with Running(server, logs) as run:
                probe = '/offsets/' + urllib.parse.quote(titles[0], safe='')
                offsets = json.loads(wait_ready(run.proc, run.port, probe, timeout=300))
                status, body = http_get(run.port, paths[0], timeout=10)
                if status != 200 or len(body) != offsets['length'] or not body.startswith(
                        b'<page>'):
                    raise RuntimeError(f'{paths[0]} answered {status}, {len(body)} bytes')
                idle = settled_memory(run.proc.pid)
                result = run_wrk(args, run.port, '/', args.seconds,
                                 os.path.join(logs, f'{server.key}.wrk.txt'), script)
                loaded = proc_memory.tree_memory(run.proc.pid)
                rows.append((server.label, idle, loaded, result, ''))
        except (RuntimeError, ValueError, OSError, KeyError, http.client.HTTPException,
                subprocess.TimeoutExpired) as e:
            rows.append((server.label, None, None, None,
                         f'{e} (log: {os.path.relpath(logs, REPO)}/{server.key}.log)'))
    return rows


def print_wiki(rows, data_dir, px_missing):
    titles = sum(1 for _ in open(os.path.join(data_dir, 'titles.txt'), 'rb'))
    print(f'\nMemory: the wiki app ({titles:,} titles from {data_dir}), summed over the '
          'process tree (a master and its workers); RSS counts a shared page once per process, '
          'PSS divides it among them. Once loaded ("idle"), then after wrk on '
          '/wiki/<title> for up to 1000 random titles ("load"):')
    print(f'  {"server":<36} {"procs":>5} {"RSS idle":>10} {"PSS idle":>10} '
          f'{"RSS load":>10} {"PSS load":>10} {"req/s":>9}')
    for label, idle, loaded, result, error in rows:
        if error:
            print(f'  {label:<36} not measured: {error}')
            continue
        problems = ', '.join(result.problems())
        print(f'  {label:<36} {len(loaded["pids"]):>5} {proc_memory.mib(idle["rss"]):>10} '
              f'{proc_memory.mib(idle["pss"]):>10} {proc_memory.mib(loaded["rss"]):>10} '
              f'{proc_memory.mib(loaded["pss"]):>10} {result.good_rps:>9,.0f}'
              + (f'  ({problems})' if problems else ''))
    if px_missing:
        print(f'  pxkit: not measured: {px_missing}')
    elif not os.path.exists(WIKI_SERVER):
        print(f'  pxkit: not measured: no {os.path.relpath(WIKI_SERVER, REPO)}')


# ---------------------------------------------------------------------------------------------
# Report

def fmt_ms(ms):
    return f'{ms / 1e3:.2f} s' if ms >= 1e3 else f'{ms:.2f} ms'


def ratio(a, b):
    return f'{a / b:.2f}x' if a and b else '-'


def print_table(rows, single, prefork):
    print(f'\nGET /hello\n  {"server":<38} {"req/s":>9} {"p50":>9} {"p99":>9} '
          f'{"x single":>8} {"x gunicorn":>10}  errors')
    for m in rows:
        if m.error:
            print(f'  {m.server.label:<38} not measured: {m.error}')
            continue
        r = m.results['/hello']
        name = m.server.label + (' *' if m is single else '')
        print(f'  {name:<38} {r.good_rps:>9,.0f} {fmt_ms(r.p50_ms):>9} {fmt_ms(r.p99_ms):>9} '
              f'{ratio(r.good_rps, single and single.results["/hello"].good_rps):>8} '
              f'{ratio(r.good_rps, prefork and prefork.results["/hello"].good_rps):>10}  '
              f'{", ".join(r.problems()) or "-"}')
    if single:
        print(f'  * the best single-process Python server (of stdlib, aiohttp, tornado): '
              f'{single.server.label}')


def cpu_line(label, two, one):
    if two.error or one.error:
        why = two.error or one.error
        return f'  {label}: not measured: {why}', None
    r2, r1 = two.results['/cpu'], one.results['/cpu']
    problems = r2.problems() + r1.problems()
    scaling = r2.good_rps / r1.good_rps if r1.good_rps else 0.0
    return (f'  {label}: 2 workers {r2.good_rps:,.0f} req/s (p50 {fmt_ms(r2.p50_ms)}, p99 '
            f'{fmt_ms(r2.p99_ms)}), 1 worker {r1.good_rps:,.0f} req/s (p50 {fmt_ms(r1.p50_ms)}, '
            f'p99 {fmt_ms(r1.p99_ms)}): {scaling:.2f}x'
            + (f'  ({", ".join(problems)})' if problems else '')), scaling


def goal_line(ok, text):
    return f'{"PASS" if ok else "FAIL"}  {text}'


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--pxpython', help='pxpython to measure, or "build" to take the path '
                        'interp/build.sh release prints (building it if not cached)')
    parser.add_argument('--stock', default='/usr/bin/python3.11',
                        help="Debian's python3.11, the peers' interpreter (default %(default)s)")
    parser.add_argument('--quick', action='store_true', help='3 s per wrk run instead of 10 s')
    parser.add_argument('--seconds', type=int, help='seconds per wrk run (overrides --quick)')
    parser.add_argument('--repeat', type=int, default=1, help='wrk runs per case, best kept')
    parser.add_argument('--threads', type=int, default=2, help='wrk -t (default 2)')
    parser.add_argument('--connections', type=int, default=64, help='wrk -c (default 64)')
    parser.add_argument('--uvicorn', action='store_true',
                        help='add uvicorn 1 and 2 workers, for information (not a reference)')
    parser.add_argument('--wiki-data', metavar='DIR',
                        help='data made by examples/wiki/make_data.py: measure the memory of '
                        'the wiki app under gunicorn and pxkit too')
    parser.add_argument('--no-deps', action='store_true', help='do not run bench/deps.sh')
    args = parser.parse_args(argv)
    args.seconds = args.seconds or (3 if args.quick else 10)

    if not args.no_deps:
        deps = [os.path.join(BENCH, 'deps.sh')] + ['--uvicorn'] * args.uvicorn
        if subprocess.run(deps, stdout=subprocess.DEVNULL).returncode != 0:
            print('bench/deps.sh failed; measuring what is installed')
    if not shutil.which('wrk'):
        print('wrk is not installed (bench/deps.sh): nothing can be measured')
        return 2

    pxpython, px_missing = find_pxpython(args)
    logs = os.path.join(REPO, 'build', 'bench-logs', 'http-' + time.strftime('%Y%m%d-%H%M%S'))
    os.makedirs(logs, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix='pxkit-http-bench-')
    stock = args.stock

    print(f'HTTP servers, {time.strftime("%Y-%m-%d %H:%M")}: wrk -t{args.threads} '
          f'-c{args.connections} -d{args.seconds}s --latency (best of {args.repeat}, after a 1 s '
          f'warm-up), on {os.cpu_count()} cores, load average {loadavg()}')
    print(versions(stock, pxpython, args.uvicorn))
    print('Note: the client (wrk) and the servers share these cores, with each other and with '
          'whatever else runs here. wrk takes CPU a server could use, so absolute numbers are '
          'low; every server pays the same, so the ratios between rows are comparable.')
    print(f'Logs: {os.path.relpath(logs, REPO)}/')

    single = [Server('stdlib ThreadingHTTPServer', 'stdlib',
                     lambda port: [stock, 'stdlib_app.py', str(port)], 'single'),
              Server('aiohttp, 1 process', 'aiohttp',
                     lambda port: [stock, 'aiohttp_app.py', str(port)], 'single'),
              Server('tornado, 1 process', 'tornado',
                     lambda port: [stock, 'tornado_app.py', str(port)], 'single')]
    info = []
    if args.uvicorn:
        info = [Server(f'uvicorn {n} worker{"s" * (n > 1)} (info)', f'uvicorn-{n}',
                       uvicorn(stock, n), 'info') for n in (1, 2)]
    prefork = Server('gunicorn 2 sync workers', 'gunicorn-2', gunicorn(stock, 2), 'prefork')
    prefork_1 = Server('gunicorn 1 sync worker', 'gunicorn-1', gunicorn(stock, 1), 'prefork')
    ceiling = nginx_server(os.path.join(tmp, 'nginx'))

    try:
        rows = [measure(args, s, ['/hello'], logs) for s in single + info]
        prefork_m = measure(args, prefork, ['/hello', '/cpu'], logs)
        prefork_1m = measure(args, prefork_1, ['/cpu'], logs)
        rows += [prefork_m, measure(args, ceiling, ['/hello'], logs)]
        px2 = px1 = None
        if pxpython:
            px2 = measure(args, pxkit_server(pxpython, 2), ['/hello', '/cpu'], logs)
            px1 = measure(args, pxkit_server(pxpython, 1), ['/cpu'], logs)
            rows.append(px2)
        wiki_rows = None
        if args.wiki_data:
            wiki_rows = measure_wiki(
                args, wiki_servers(stock, pxpython, os.path.abspath(args.wiki_data)), logs, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    measured_single = [m for m in rows if m.server.kind == 'single' and not m.error]
    best_single = max(measured_single, key=lambda m: m.results['/hello'].good_rps, default=None)
    prefork_ok = prefork_m if not prefork_m.error else None
    print_table(rows, best_single, prefork_ok)

    print('\nCPU-bound /cpu (cpu_work.py, about 3 ms of pure Python on stock CPython):')
    px_cpu, px_scaling = (cpu_line('pxkit', px2, px1) if px2 else
                          (f'  pxkit: not measured: {px_missing}', None))
    print(px_cpu)
    stock_cpu, stock_scaling = cpu_line('gunicorn sync (stock CPython, pre-fork)', prefork_m,
                                        prefork_1m)
    print(stock_cpu)
    if stock_scaling is not None and stock_scaling < CONTROL_SCALING:
        print(f'  note: 2 separate processes scaled only {stock_scaling:.2f}x: this run did not '
              'have 2 free cores (other work, and wrk), so a 2-vs-1 figure measured in it says '
              'more about the machine than about the server; rerun on a quieter machine')

    if wiki_rows is not None:
        print_wiki(wiki_rows, os.path.abspath(args.wiki_data), px_missing)

    print(f'\nload average after the run: {loadavg()}')
    print('Goals:')
    failed = False
    if not pxpython:
        print(f'NOT MEASURED  pxkit: {px_missing}')
        failed = args.pxpython is not None
    elif px2.error:
        print(f'FAIL  pxkit 2 workers did not run: {px2.error}')
        failed = True
    else:
        px_rps = px2.results['/hello'].good_rps
        px_problems = px2.results['/hello'].problems()
        if px_problems:
            print(f'FAIL  pxkit /hello answered with errors: {", ".join(px_problems)}')
            failed = True
        for target, ref, what in ((GOAL_VS_SINGLE, best_single, 'the best single-process '
                                   'Python server'),
                                  (GOAL_VS_PREFORK, prefork_ok, 'the 2-worker pre-fork server')):
            if ref is None:
                print(f'NOT MEASURED  pxkit /hello vs {what} (target >= {target}x): '
                      'that server did not run')
                continue
            ref_rps = ref.results['/hello'].good_rps
            ok = px_rps >= target * ref_rps
            failed |= not ok
            print(goal_line(ok, f'pxkit /hello: {px_rps / ref_rps:.2f}x {what} '
                                f'({px_rps:,.0f} vs {ref.server.label} {ref_rps:,.0f} req/s), '
                                f'target >= {target}x'))
        if px_scaling is None:
            print(f'FAIL  pxkit /cpu 2 workers vs 1 not measured: {px1.error or px2.error}')
            failed = True
        else:
            ok = px_scaling >= GOAL_CPU_SCALING
            failed |= not ok
            print(goal_line(ok, f'pxkit /cpu: 2 workers {px_scaling:.2f}x 1 worker, '
                                f'target >= {GOAL_CPU_SCALING}x'))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
