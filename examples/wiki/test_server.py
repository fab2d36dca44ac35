"""End-to-end tests of the wiki server with real clients: http.client, curl and raw sockets.

PXPYTHON=/path/to/pxpython python3 -m unittest examples/wiki/test_server.py -v

The server runs as a pxpython subprocess (port 0, 2 workers) on a small dataset generated into
a temp dir; every body is compared with the dump's bytes. Without PXPYTHON the module is
skipped. About 5 to 8 s on 2 busy cores.
"""

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import wikidata  # noqa: E402
from test_wikidata import make_data  # noqa: E402

PXPYTHON = os.environ.get('PXPYTHON')
# Synthetic articles after 100 real ones: their titles carry &, ?, # and %. 12 MB because a
# loopback connection buffers up to 4 MB in the kernel (tcp_wmem): the server is still sending
# /dump to a slow client when the shutdown tests signal it. About 1 s to generate.
DATA_OPTIONS = ['--articles', '200', '--min-bytes', '12000000', '--max-real-articles', '100']
START_TIMEOUT = 60  # s, from exec to the "serving" line; imports and index load on a busy box
CLIENT_TIMEOUT = 20  # s, any single socket operation
SERVING = re.compile(r'serving .* on http://([0-9.]+):([0-9]+)/')
XML = 'application/xml; charset=utf-8'

DATA = None  # set up once per module: data dir, index, dump bytes, titles of each kind
INDEX = None
DUMP = None
TITLES = {}


def setUpModule():
    global DATA, INDEX, DUMP, TITLES
    if not PXPYTHON:
        raise unittest.SkipTest('PXPYTHON is not set (the path of pxpython, printed by '
                                'interp/build.sh release)')
    if not os.access(PXPYTHON, os.X_OK):
        raise AssertionError(f'PXPYTHON={PXPYTHON} is not an executable')
    DATA = tempfile.TemporaryDirectory()
    done = make_data(DATA.name, *DATA_OPTIONS)
    if done.returncode != 0:
        raise AssertionError(f'make_data.py failed:\n{done.stderr}')
    INDEX = wikidata.load_index(DATA.name)
    with open(wikidata.dump_path(DATA.name), 'rb') as f:
        DUMP = f.read()
    TITLES = pick_titles(INDEX[0], INDEX[2])


def tearDownModule():
    if DATA is not None:
        DATA.cleanup()


def pick_titles(titles, lengths):
    """One title of each awkward kind; fails if the dataset lacks one (it must not)."""
    kinds = {'space': lambda t: ' ' in t, 'non-ASCII': lambda t: not t.isascii(),
             'ampersand': lambda t: '&' in t, 'question mark': lambda t: '?' in t,
             'hash': lambda t: '#' in t, 'percent': lambda t: '%' in t}
    picked = {'first': titles[0], 'last': titles[-1],
              'largest': max(zip(lengths, titles))[1]}
    for kind, test in kinds.items():
        found = [t for t in titles if test(t)]
        if not found:
            raise AssertionError(f'the test dataset has no title with a {kind}')
        picked[kind] = found[0]
    return picked


def article(title):
    offset, length = wikidata.article_range(*INDEX, title)
    return DUMP[offset:offset + length]


def quoted(title):
    return urllib.parse.quote(title, safe='')


# ---- the server process --------------------------------------------------------------------


class Server:
    """A server subprocess. Its stdout and stderr go to files (no pipe to fill up); the
    constructor returns once it printed its address. Own session, SIGINT at its default."""

    def __init__(self, argv, cwd=HERE, env=None):
        self.files = tempfile.TemporaryDirectory()
        self.out_path = os.path.join(self.files.name, 'stdout')
        self.err_path = os.path.join(self.files.name, 'stderr')
        environment = dict(os.environ, PXKIT_WIKI_DATA=DATA.name)
        environment.update(env or {})
        with open(self.out_path, 'wb') as out, open(self.err_path, 'wb') as err:
            self.proc = subprocess.Popen(
                argv, cwd=cwd, env=environment, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                start_new_session=True,
                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            found = SERVING.search(self.stdout())
            if found:
                self.host, self.port = found[1], int(found[2])
                return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f'{argv} did not start serving (status '
                                     f'{self.proc.returncode}):\n{self.stdout()}{self.stderr()}')
            time.sleep(0.05)

    @classmethod
    def wiki(cls):
        return cls([PXPYTHON, '-m', 'parallel.http', 'server:Wiki', '--host', '127.0.0.1',
                    '--port', '0', '--workers', '2'])

    def stdout(self):
        with open(self.out_path, encoding='utf-8', errors='replace') as f:
            return f.read()

    def stderr(self):
        with open(self.err_path, encoding='utf-8', errors='replace') as f:
            return f.read()

    def url(self, path):
        return f'http://{self.host}:{self.port}{path}'

    def connection(self):
        return http.client.HTTPConnection(self.host, self.port, timeout=CLIENT_TIMEOUT)

    def stop(self, sig=signal.SIGTERM, timeout=5.0):
        """Sends `sig` once; the exit status, or None if the process was still running after
        `timeout` seconds (then it is killed)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.wait(timeout)

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def close(self):
        self.kill()
        self.files.cleanup()


def request(server, method, path, headers=None, body=None):
    """One request on a new http.client connection: (status, headers, body)."""
    conn = server.connection()
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


def curl(server, path, *options):
    """curl as a user runs it: (status, headers as a lowercase dict, body bytes)."""
    with tempfile.TemporaryDirectory() as tmp:
        body_path, head_path = os.path.join(tmp, 'body'), os.path.join(tmp, 'head')
        done = subprocess.run(['curl', '-sS', '-g', '--max-time', str(CLIENT_TIMEOUT),
                               '-o', body_path, '-D', head_path, '-w', '%{http_code}',
                               *options, server.url(path)],
                              capture_output=True, text=True, timeout=CLIENT_TIMEOUT + 10)
        if done.returncode != 0:
            raise AssertionError(f'curl {path} {options}: exit {done.returncode}: {done.stderr}')
        with open(body_path, 'rb') as f:
            body = f.read()
        with open(head_path, encoding='latin-1', newline='') as f:
            lines = f.read().split('\r\n')[1:]
    headers = {}
    for line in lines:
        name, colon, value = line.partition(':')
        if colon:
            headers[name.strip().lower()] = value.strip()
    return int(done.stdout), headers, body


class Truncated(Exception):
    """A response that started (some bytes arrived) but did not finish."""


def read_response(stream):
    """One HTTP/1.1 response from a binary file object: (status, headers, body). None when the
    connection closed before any byte of it; Truncated when it closed part way."""
    status_line = stream.readline()
    if not status_line:
        return None
    if not status_line.endswith(b'\r\n'):
        raise Truncated(f'status line {status_line!r}')
    status = int(status_line.split()[1])
    headers = {}
    while True:
        line = stream.readline()
        if not line.endswith(b'\r\n'):
            raise Truncated(f'header line {line!r}')
        if line == b'\r\n':
            break
        name, _, value = line.decode('latin-1').partition(':')
        headers[name.strip().lower()] = value.strip()
    length = int(headers['content-length'])
    body = stream.read(length)
    if len(body) != length:
        raise Truncated(f'{len(body)} of {length} body bytes')
    return status, headers, body


def raw_exchange(server, data):
    """Sends `data` on a new socket and reads one response (the server closes after it)."""
    with socket.create_connection((server.host, server.port), timeout=CLIENT_TIMEOUT) as s:
        s.sendall(data)
        with s.makefile('rb') as stream:
            return read_response(stream)


# ---- routes ---------------------------------------------------------------------------------


class Routes(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server.wiki()

    @classmethod
    def tearDownClass(cls):
        status = cls.server.stop()
        stderr = cls.server.stderr()
        cls.server.close()
        if status != 0:
            raise AssertionError(f'the server exited with {status} on SIGTERM:\n{stderr}')

    def get(self, path, **headers):
        return request(self.server, 'GET', path, headers)

    def test_hello(self):
        status, headers, body = self.get('/hello')
        self.assertEqual((status, body), (200, b'Hello, World!'))
        self.assertEqual(headers['Content-Type'], 'text/plain; charset=utf-8')
        self.assertEqual(curl(self.server, '/hello')[::2], (200, b'Hello, World!'))

    def test_index_names_every_route_and_its_links_work(self):
        status, _, body = self.get('/')
        self.assertEqual(status, 200)
        text = body.decode()
        for route in ('/hello', '/wiki/<title>', '/offsets/<title>', '/dump', '/stats',
                      '/set_secret_key/<key>', '/secret_key', '/login/<name>', '/users',
                      '/user/<login>'):
            self.assertIn(route, text)
        links = re.findall(r'^  (/(?:wiki|offsets)/\S+)$', text, re.M)
        self.assertGreaterEqual(len(links), 4)
        for link in links:
            self.assertEqual(self.get(link)[0], 200, link)

    def test_every_article_is_its_dump_slice(self):
        # All of them on one keep-alive connection.
        conn = self.server.connection()
        try:
            for title in INDEX[0]:
                conn.request('GET', '/wiki/' + quoted(title))
                response = conn.getresponse()
                body = response.read()
                self.assertEqual(response.status, 200, title)
                self.assertEqual(response.headers['Content-Type'], XML)
                self.assertEqual(body, article(title), title)
        finally:
            conn.close()

    def test_awkward_titles_with_curl(self):
        for kind, title in TITLES.items():
            status, headers, body = curl(self.server, '/wiki/' + quoted(title))
            self.assertEqual(status, 200, kind)
            self.assertEqual(headers['content-type'], XML)
            self.assertEqual(body, article(title), kind)

    def test_head_sends_the_length_without_the_body(self):
        title = TITLES['non-ASCII']
        conn = self.server.connection()
        try:
            conn.request('HEAD', '/wiki/' + quoted(title))
            response = conn.getresponse()
            self.assertEqual(response.status, 200)
            self.assertEqual(int(response.headers['Content-Length']), len(article(title)))
            self.assertEqual(response.read(), b'')
            conn.request('GET', '/hello')  # the connection is still in step
            self.assertEqual(conn.getresponse().read(), b'Hello, World!')
        finally:
            conn.close()

    def test_offsets_are_the_index(self):
        titles, offsets, lengths = INDEX
        conn = self.server.connection()
        try:
            for title, offset, length in zip(titles, offsets, lengths):
                conn.request('GET', '/offsets/' + quoted(title))
                response = conn.getresponse()
                self.assertEqual(response.status, 200, title)
                self.assertEqual(response.headers['Content-Type'], 'application/json')
                self.assertEqual(json.loads(response.read()),
                                 {'title': title, 'offset': offset, 'length': length})
        finally:
            conn.close()
        status, headers, body = curl(self.server, '/offsets/' + quoted(TITLES['hash']))
        self.assertEqual(status, 200)
        offset, length = wikidata.article_range(*INDEX, TITLES['hash'])
        self.assertEqual(json.loads(body),
                         {'title': TITLES['hash'], 'offset': offset, 'length': length})

    def test_stats_has_the_documented_keys(self):
        for status, headers, body in (self.get('/stats'), curl(self.server, '/stats')):
            self.assertEqual(status, 200)
            stats = json.loads(body)
            for key in ('contexts', 'memory', 'server', 'elapsed'):
                self.assertIn(key, stats)
            self.assertGreater(stats['elapsed'], 0)

    def test_secret_key_is_kept_per_connection(self):
        a, b = self.server.connection(), self.server.connection()
        try:
            def get(conn, path):
                conn.request('GET', path)
                response = conn.getresponse()
                return response.status, response.read()
            self.assertEqual(get(a, '/secret_key')[0], 404)
            self.assertEqual(get(a, '/set_secret_key/swordfish'),
                             (200, b'{"secret_key": "swordfish"}'))
            self.assertEqual(get(b, '/set_secret_key/' + quoted('caf\u00e9 & co')),
                             (200, json.dumps({'secret_key': 'caf\u00e9 & co'}).encode()))
            for _ in range(10):  # other requests in between: each one a rewind
                self.assertEqual(get(a, '/hello')[0], 200)
                self.assertEqual(json.loads(get(a, '/secret_key')[1]), {'secret_key': 'swordfish'})
                self.assertEqual(json.loads(get(b, '/secret_key')[1]),
                                 {'secret_key': 'caf\u00e9 & co'})
            self.assertEqual(get(a, '/set_secret_key/other')[0], 200)
            self.assertEqual(json.loads(get(a, '/secret_key')[1]), {'secret_key': 'other'})
        finally:
            a.close()
            b.close()
        # A new connection starts without one.
        self.assertEqual(self.get('/secret_key')[0], 404)

    def test_logins_are_counted_on_the_main_thread(self):
        name = 'tester-' + str(os.getpid())
        counts = [json.loads(self.get('/login/' + name)[2])['count'] for _ in range(5)]
        self.assertEqual(counts, [1, 2, 3, 4, 5])
        self.assertEqual(json.loads(curl(self.server, '/login/' + name)[2]),
                         {'login': name, 'count': 6})

    def test_users_come_from_sqlite(self):
        status, _, body = self.get('/users')
        self.assertEqual(status, 200)
        users = json.loads(body)
        self.assertEqual(users['total'], 1000)
        self.assertEqual(len(users['first']), 100)
        first = users['first'][0]
        self.assertEqual(first['login'], 'user0001')
        self.assertEqual(json.loads(self.get('/user/user0001')[2]), first)
        self.assertEqual(self.get('/user/nobody')[0], 404)
        for i in (2, 500, 1000):  # many requests, each opening (and dropping) a connection
            login = f'user{i:04d}'
            self.assertEqual(json.loads(curl(self.server, '/user/' + login)[2])['login'], login)

    def test_unknown_title_is_404(self):
        missing = quoted(TITLES['first'] + ' (no such page)')
        for path in ('/wiki/' + missing, '/offsets/' + missing, '/wiki/', '/wiki'):
            self.assertEqual(self.get(path)[0], 404, path)
        self.assertEqual(curl(self.server, '/wiki/' + missing)[0], 404)

    def test_unknown_route_is_404(self):
        # /sendfile and /error are HttpServer methods, not routes; _px_request is private.
        for path in ('/nope', '/nope/x', '/sendfile', '/error', '/_px_request',
                     '/wiki/' + quoted(TITLES['first']) + '/extra'):
            self.assertEqual(self.get(path)[0], 404, path)
        self.assertEqual(curl(self.server, '/nope')[0], 404)

    def test_post_on_a_get_route_is_405(self):
        status, headers, _ = request(self.server, 'POST', '/hello', body=b'x=1')
        self.assertEqual(status, 405)
        self.assertIn('GET', headers['Allow'])
        self.assertEqual(curl(self.server, '/wiki/' + quoted(TITLES['first']),
                              '-X', 'POST', '-d', 'x')[0], 405)

    def test_keep_alive_uses_one_socket(self):
        conn = self.server.connection()
        try:
            conn.connect()
            sock, address = conn.sock, conn.sock.getsockname()
            for path in ('/hello', '/offsets/' + quoted(TITLES['ampersand']),
                         '/wiki/' + quoted(TITLES['largest']), '/nope', '/stats', '/hello'):
                conn.request('GET', path)
                response = conn.getresponse()
                response.read()
                self.assertIsNone(response.headers['Connection'], path)
                self.assertIs(conn.sock, sock, path)
                self.assertEqual(conn.sock.getsockname(), address)
        finally:
            conn.close()

    def test_pipelined_requests_are_answered_in_order(self):
        title = TITLES['percent']
        paths = ['/offsets/' + quoted(title), '/wiki/' + quoted(title), '/hello']
        data = b''.join(f'GET {p} HTTP/1.1\r\nHost: test\r\n\r\n'.encode() for p in paths)
        with socket.create_connection((self.server.host, self.server.port),
                                      timeout=CLIENT_TIMEOUT) as s:
            s.sendall(data)  # one write: all three before any answer
            with s.makefile('rb') as stream:
                responses = [read_response(stream) for _ in paths]
        self.assertEqual([r[0] for r in responses], [200, 200, 200])
        self.assertEqual(json.loads(responses[0][2])['title'], title)
        self.assertEqual(responses[1][2], article(title))
        self.assertEqual(responses[2][2], b'Hello, World!')

    # Ranges apply within the article, as the C++ layer applies them to files.

    def check_range(self, title, header, first, last):
        body = article(title)
        for status, headers, got in (self.get('/wiki/' + quoted(title), Range=header),
                                     curl(self.server, '/wiki/' + quoted(title),
                                          '-H', 'Range: ' + header)):
            self.assertEqual(status, 206, header)
            self.assertEqual(got, body[first:last + 1], header)
            content_range = headers.get('Content-Range') or headers.get('content-range')
            self.assertEqual(content_range, f'bytes {first}-{last}/{len(body)}')

    def test_range_first_byte(self):
        self.check_range(TITLES['largest'], 'bytes=0-0', 0, 0)

    def test_range_suffix(self):
        n = len(article(TITLES['ampersand']))
        self.check_range(TITLES['ampersand'], 'bytes=-10', n - 10, n - 1)
        self.check_range(TITLES['ampersand'], 'bytes=-999999999', 0, n - 1)

    def test_range_open_ended_and_clamped(self):
        n = len(article(TITLES['non-ASCII']))
        self.check_range(TITLES['non-ASCII'], 'bytes=100-', 100, n - 1)
        self.check_range(TITLES['non-ASCII'], 'bytes=7-99999999', 7, n - 1)
        self.check_range(TITLES['non-ASCII'], 'bytes=10-19', 10, 19)

    def test_range_with_curl_r(self):
        title = TITLES['question mark']
        status, headers, body = curl(self.server, '/wiki/' + quoted(title), '-r', '5-14')
        self.assertEqual((status, body), (206, article(title)[5:15]))

    def test_unsatisfiable_and_multiple_ranges_are_416(self):
        title = TITLES['hash']
        n = len(article(title))
        for header in (f'bytes={n}-', f'bytes={n + 5}-{n + 10}', 'bytes=-0', 'bytes=0-1,3-4'):
            status, headers, _ = self.get('/wiki/' + quoted(title), Range=header)
            self.assertEqual(status, 416, header)
            self.assertEqual(headers['Content-Range'], f'bytes */{n}')

    def test_unusable_range_headers_send_the_whole_article(self):
        title = TITLES['hash']
        for header in ('bytes=5-2', 'items=0-1', 'bytes=x-1', 'bytes=', 'bytes=+1-2'):
            status, _, body = self.get('/wiki/' + quoted(title), Range=header)
            self.assertEqual((status, body), (200, article(title)), header)

    def test_dump_sends_the_file_and_its_ranges(self):
        status, headers, body = self.get('/dump')
        self.assertEqual((status, headers['Content-Type']), (200, XML))
        self.assertEqual(body, DUMP)
        title = TITLES['largest']
        offset, length = wikidata.article_range(*INDEX, title)
        status, _, body = curl(self.server, '/dump', '-r', f'{offset}-{offset + length - 1}')
        self.assertEqual((status, body), (206, article(title)))
        self.assertEqual(self.get('/dump', Range=f'bytes={len(DUMP)}-')[0], 416)

    # Bad requests: answered 4xx and closed; the server goes on.

    def check_refused(self, data, expected):
        response = raw_exchange(self.server, data)
        self.assertIsNotNone(response, 'closed without an answer')
        self.assertEqual(response[0], expected)
        self.assertEqual(self.get('/hello')[::2], (200, b'Hello, World!'))

    def test_garbage_request_line_is_400(self):
        self.check_refused(b'THIS IS NOT HTTP\r\n\r\n', 400)

    def test_header_block_over_8_kib_is_431(self):
        big = b'X-Big: ' + b'a' * 9000 + b'\r\n'
        self.check_refused(b'GET /hello HTTP/1.1\r\nHost: test\r\n' + big + b'\r\n', 431)

    def test_target_over_2048_bytes_is_414(self):
        target = b'/wiki/' + b'a' * 2100
        self.check_refused(b'GET ' + target + b' HTTP/1.1\r\nHost: test\r\n\r\n', 414)

    def test_a_target_that_is_not_utf8_is_400(self):
        self.check_refused(b'GET /wiki/\xff HTTP/1.1\r\nHost: test\r\n\r\n', 400)

    def test_a_latin1_header_value_is_served(self):
        # obs-text is legal in a field value (RFC 9110 §5.5)
        response = raw_exchange(self.server, b'GET /hello HTTP/1.1\r\nHost: test\r\n'
                                b'X-Note: caf\xe9\r\nConnection: close\r\n\r\n')
        self.assertEqual(response[::2], (200, b'Hello, World!'))


# ---- a route that raises -------------------------------------------------------------------

FAILING_APP = '''\
"""Wiki plus routes that fail: the 500 test's app."""
from parallel.http import route

from server import Wiki

COUNTER = 0


class Failing(Wiki):
    @route
    def boom(self, request):
        raise ValueError('boom from the test route')

    @route
    def mutate(self, request):
        global COUNTER
        COUNTER += 1  # a main-owned global: MutationError
        return 'mutated'
'''


class Failures(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        with open(os.path.join(self.tmp.name, 'failing_app.py'), 'w') as f:
            f.write(FAILING_APP)
        self.server = Server([PXPYTHON, '-m', 'parallel.http', 'failing_app:Failing',
                              '--port', '0', '--workers', '2'],
                             cwd=self.tmp.name, env={'PYTHONPATH': HERE})

    def tearDown(self):
        self.server.close()
        self.tmp.cleanup()

    def wait_for_stderr(self, text, timeout=10):
        deadline = time.monotonic() + timeout
        while text not in self.server.stderr() and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.server.stderr()

    def test_an_exception_is_500_logged_and_the_server_goes_on(self):
        conn = self.server.connection()
        try:
            for path, expected in (('/boom', 500), ('/hello', 200), ('/mutate', 500),
                                   ('/hello', 200)):
                conn.request('GET', path)
                response = conn.getresponse()
                body = response.read()
                self.assertEqual(response.status, expected, path)
            self.assertEqual(body, b'Hello, World!')
        finally:
            conn.close()
        title = TITLES['non-ASCII']
        self.assertEqual(curl(self.server, '/wiki/' + quoted(title))[::2], (200, article(title)))
        stderr = self.wait_for_stderr('MutationError')
        self.assertIn('Traceback', stderr)
        self.assertIn('ValueError: boom from the test route', stderr)
        self.assertIn('MutationError', stderr)
        self.assertEqual(self.server.stop(), 0, self.server.stderr())


# ---- graceful shutdown under load ----------------------------------------------------------


# argv: host port path file. A 4 KiB receive buffer set before connecting keeps the TCP
# window small, so the server cannot push /dump into this socket while it does not read.
DOWNLOADER = r'''
import socket, sys
host, port, path, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.settimeout(20)
s.connect((host, port))
s.sendall(f'GET {path} HTTP/1.1\r\nHost: test\r\n\r\n'.encode())
received = [s.recv(4096)]
print('started' if received[0] else 'closed', flush=True)
sys.stdin.readline()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
while True:
    chunk = s.recv(1 << 20)
    if not chunk:
        break
    received.append(chunk)
with open(out, 'wb') as f:
    f.write(b''.join(received))
'''


class Load:
    """Clients that keep a server busy and sort what they saw: a request either completed
    correctly, or the connection was refused or closed before its response started."""

    HAMMERS = 4

    def __init__(self, server, downloads):
        self.server = server
        self.stop = threading.Event()
        self.resume = threading.Event()  # downloads pause after their first bytes until set
        self.lock = threading.Lock()
        self.ok = [0] * self.HAMMERS
        self.refused = self.closed = 0
        self.failures = []  # truncated or wrong responses, unexpected errors
        self.downloads = {path: None for path in downloads}
        self.started = {path: threading.Event() for path in downloads}
        self.threads = [threading.Thread(target=self.hammer, args=(i,))
                        for i in range(self.HAMMERS)]
        self.threads += [threading.Thread(target=self.download, args=(p,)) for p in downloads]
        for t in self.threads:
            t.start()

    def fail(self, what):
        with self.lock:
            self.failures.append(what)

    def count(self, name):
        with self.lock:
            setattr(self, name, getattr(self, name) + 1)

    def hammer(self, i):
        conn = None
        while not self.stop.is_set():
            if conn is None:
                conn = self.server.connection()
                try:
                    conn.connect()
                except (ConnectionRefusedError, ConnectionResetError):
                    # The listener is closing: a SYN answered by RST rather than refused,
                    # depending on where the kernel was; no request was sent either way.
                    self.count('refused')
                    conn = None
                    time.sleep(0.01)
                    continue
                except OSError as e:
                    self.fail(f'hammer {i}: connect: {e!r}')
                    return
            try:
                conn.request('GET', '/hello')
                response = conn.getresponse()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.count('closed')  # no byte of a response arrived
                conn.close()
                conn = None
                continue
            except Exception as e:  # a partial status line, a timeout
                self.fail(f'hammer {i}: {e!r}')
                return
            try:
                body = response.read()
            except Exception as e:
                self.fail(f'hammer {i}: truncated body: {e!r}')
                return
            if response.status != 200 or body != b'Hello, World!':
                self.fail(f'hammer {i}: {response.status} {body[:100]!r}')
                return
            self.ok[i] += 1
            if response.will_close:
                conn.close()
                conn = None
        if conn is not None:
            conn.close()

    def download(self, path):
        """GET `path` in a child process (the hammers hold this one's GIL) that reads the
        response head, stops reading until resume is set, then reads the rest at once."""
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, 'response')
            child = subprocess.Popen(
                [sys.executable, '-c', DOWNLOADER, self.server.host, str(self.server.port),
                 path, out], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            try:
                said = child.stdout.readline().strip()
                self.started[path].set()
                if said != 'started':
                    raise Truncated(f'closed before the response ({said!r})')
                self.resume.wait(CLIENT_TIMEOUT)
                child.stdin.write('go\n')
                child.stdin.close()
                if child.wait(CLIENT_TIMEOUT + 5) != 0:
                    raise Truncated(f'the downloader exited with {child.returncode}')
                with open(out, 'rb') as f:
                    head, _, body = f.read().partition(b'\r\n\r\n')
                lengths = re.findall(rb'Content-Length: (\d+)', head)
                if not head.startswith(b'HTTP/1.1 200 ') or not lengths:
                    raise Truncated(f'head {head[:200]!r}')
                if len(body) != int(lengths[0]):
                    raise Truncated(f'{len(body)} of {int(lengths[0])} body bytes')
                self.downloads[path] = body
            except Exception as e:
                self.fail(f'download {path}: {e!r}')
                self.started[path].set()
            finally:
                if child.poll() is None:
                    child.kill()
                child.wait()
                child.stdout.close()

    def wait_until_busy(self, requests_each=20, timeout=30):
        deadline = time.monotonic() + timeout
        while min(self.ok) < requests_each and time.monotonic() < deadline and not self.failures:
            time.sleep(0.01)
        for event in self.started.values():
            event.wait(max(0.0, deadline - time.monotonic()))
        return min(self.ok) >= requests_each and all(e.is_set() for e in self.started.values())

    def finish(self):
        self.resume.set()
        self.stop.set()
        for t in self.threads:
            t.join(CLIENT_TIMEOUT + 5)
        return not any(t.is_alive() for t in self.threads)


class Shutdown(unittest.TestCase):
    def check_graceful_stop_under_load(self, sig):
        server = Server.wiki()
        self.addCleanup(server.close)
        largest = TITLES['largest']
        load = Load(server, ['/wiki/' + quoted(largest), '/dump'])
        try:
            self.assertTrue(load.wait_until_busy(), f'no load: ok={load.ok} {load.failures}')
            self.assertEqual(load.failures, [])
            server.proc.send_signal(sig)
            signalled = time.monotonic()
            time.sleep(0.3)  # the downloads are paused: /dump cannot have been sent in full
            self.assertIsNone(server.proc.poll(), 'the server exited before /dump went out')
            load.resume.set()
            status = server.wait(5.0 - (time.monotonic() - signalled))
        finally:
            self.assertTrue(load.finish(), 'a client thread hung')
        self.assertEqual(status, 0, f'{sig!r}: status {status}:\n{server.stderr()}')
        self.assertIn('stopped', server.stdout())
        self.assertEqual(load.failures, [])
        self.assertGreater(load.refused, 0, 'the clients did not outlive the server')
        self.assertEqual(load.downloads['/wiki/' + quoted(largest)], article(largest))
        self.assertEqual(load.downloads['/dump'], DUMP)

    def test_sigterm_under_load_exits_0_and_truncates_nothing(self):
        self.check_graceful_stop_under_load(signal.SIGTERM)

    def test_sigint_under_load_exits_0_and_truncates_nothing(self):
        self.check_graceful_stop_under_load(signal.SIGINT)


# ---- the launchers ---------------------------------------------------------------------------


class Launchers(unittest.TestCase):
    def test_run_sh_serves_and_prints_urls_that_work(self):
        server = Server([os.path.join(HERE, 'run.sh'), '--port', '0', '--data', DATA.name],
                        env={'PXPYTHON': PXPYTHON})
        self.addCleanup(server.close)
        urls = re.findall(r'curl (http://\S+)', server.stdout())
        paths = [urllib.parse.urlsplit(u).path for u in urls]
        self.assertIn('/hello', paths)
        self.assertIn('/stats', paths)
        self.assertTrue([p for p in paths if p.startswith('/offsets/')], paths)
        self.assertGreaterEqual(len([p for p in paths if p.startswith('/wiki/')]), 3)
        for path in paths:
            self.assertEqual(curl(server, path)[0], 200, path)
        self.assertEqual(server.stop(signal.SIGINT), 0, server.stderr())

    def test_run_sh_rejects_bad_options(self):
        for options in (['--port', 'x'], ['--port', '70000'], ['--workers', '0'], ['--what']):
            done = subprocess.run([os.path.join(HERE, 'run.sh'), *options], capture_output=True,
                                  text=True, timeout=30, env=dict(os.environ, PXPYTHON=PXPYTHON))
            self.assertEqual(done.returncode, 2, options)
            self.assertIn('usage', done.stderr)

    def test_a_busy_port_is_one_clear_error(self):
        with socket.socket() as taken:
            taken.bind(('127.0.0.1', 0))
            taken.listen()
            port = taken.getsockname()[1]
            done = subprocess.run([PXPYTHON, 'server.py', '--port', str(port)], cwd=HERE,
                                  env=dict(os.environ, PXKIT_WIKI_DATA=DATA.name),
                                  capture_output=True, text=True, timeout=60)
        self.assertEqual(done.returncode, 1, done.stderr)
        self.assertIn(f'server.py: error: cannot serve on 127.0.0.1:{port}', done.stderr)

    def test_missing_data_is_one_clear_error(self):
        with tempfile.TemporaryDirectory() as empty:
            env = dict(os.environ, PXKIT_WIKI_DATA=empty)
            for argv in ([PXPYTHON, '-m', 'parallel.http', 'server:Wiki', '--port', '0'],
                         [PXPYTHON, 'server.py', '--port', '0']):
                done = subprocess.run(argv, cwd=HERE, env=env, capture_output=True, text=True,
                                      timeout=60)
                self.assertNotEqual(done.returncode, 0, argv)
                self.assertIn(f'make_data.py {empty}', done.stderr, argv)


if __name__ == '__main__':
    unittest.main()
