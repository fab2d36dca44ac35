"""parallel.http end to end (API.md "HTTP"): routing, responses, files and ranges, errors,
keep-alive and pipelining, limits, with http.client, raw sockets and curl."""
import http.client
import json
import os
import socket
import subprocess
import sys
import time
import unittest

from .serverlib import APPS, DATA, ServerProcess, curl, read_response, recv_until_closed


def data_bytes():
    with open(DATA, "rb") as f:
        return f.read()


class WebAppCase(unittest.TestCase):
    """web_app:Web served for the class (with ENV added to its environment); no tests."""
    ENV = {}

    @classmethod
    def setUpClass(cls):
        cls.server = ServerProcess.app("web_app:Web", env=cls.ENV)
        cls.base = "http://127.0.0.1:%d" % cls.server.port

    @classmethod
    def tearDownClass(cls):
        status, seconds = cls.server.stop()
        cls.server.close()
        assert status == 0 and seconds < 5, (status, seconds)

    def request(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=20)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            conn.close()

    def wait_for_log(self, text):
        deadline = time.monotonic() + 10
        while text not in self.server.stderr() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertIn(text, self.server.stderr())


class HttpAppTest(WebAppCase):

    # ---- routing and responses

    def test_hello(self):
        status, headers, body = self.request("GET", "/hello")
        self.assertEqual((status, body), (200, b"Hello, World!"))
        self.assertEqual(headers["content-type"], "text/plain; charset=utf-8")
        self.assertEqual(headers["content-length"], "13")

    def test_root_calls_index(self):
        self.assertEqual(self.request("GET", "/")[::2], (200, b"index"))

    def test_segments_are_unquoted_positional_arguments(self):
        status, headers, body = self.request("GET", "/args/a%20b/%C3%A9t%C3%A9/x%2Fy?k=1&k=2&e=")
        self.assertEqual(status, 200)
        self.assertEqual(headers["content-type"], "application/json")
        self.assertEqual(json.loads(body), {"parts": ["a b", "été", "x/y"],
                                            "query": {"k": ["1", "2"], "e": [""]},
                                            "method": "GET"})

    def test_headers_are_case_insensitive_and_response_headers_are_sent(self):
        status, headers, body = self.request("GET", "/headers",
                                             headers={"X-PROBE": "p1", "User-Agent": "t/1"})
        self.assertEqual(status, 200)
        self.assertEqual(headers["x-seen"], "p1")
        self.assertEqual(json.loads(body), {"ua": "t/1"})

    def test_status_and_content_type_set_by_the_route(self):
        status, headers, body = self.request("GET", "/created")
        self.assertEqual((status, headers["content-type"], body), (201, "application/x-test", b"made"))

    def test_error_ends_the_request_with_its_status(self):
        status, _, body = self.request("GET", "/teapot")
        self.assertEqual((status, body), (418, b"short and stout\n"))

    def test_unknown_route_is_404(self):
        for path in ("/nothing", "/_px_request", "/hello/extra/args"):
            self.assertEqual(self.request("GET", path)[0], 404, path)

    def test_wrong_method_is_405_with_allow(self):
        status, headers, _ = self.request("POST", "/hello", body=b"x")
        self.assertEqual(status, 405)
        self.assertEqual(headers["allow"], "GET, HEAD")
        self.assertEqual(self.request("GET", "/echo")[0], 405)

    def test_post_body(self):
        body = bytes(range(256)) * 10
        self.assertEqual(self.request("POST", "/echo", body=body)[::2], (200, body))

    def test_head_has_headers_and_no_body(self):
        status, headers, body = self.request("HEAD", "/hello")
        self.assertEqual((status, headers["content-length"], body), (200, "13", b""))

    def test_exception_is_500_logged_and_the_server_keeps_serving(self):
        status, _, body = self.request("GET", "/boom")
        self.assertEqual(status, 500)
        self.assertEqual(self.request("GET", "/hello")[0], 200)
        self.wait_for_log("KeyError: 'missing'")
        self.assertIn("exception in the route for GET /boom from 127.0.0.1:", self.server.stderr())

    def test_stats_route(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=20)
        try:  # one keep-alive connection: its first callback's heap is published by the second
            conn.request("GET", "/args/warm")
            conn.getresponse().read()
            conn.request("GET", "/stats")
            r = conn.getresponse()
            status, body = r.status, r.read()
        finally:
            conn.close()
        stats = json.loads(body)
        self.assertEqual(status, 200)
        for key in ("contexts", "memory", "server", "elapsed", "threads"):
            self.assertIn(key, stats)
        self.assertGreaterEqual(stats["server"]["requests"], 1)
        self.assertEqual(len(stats["threads"]), 2)
        memory = stats["memory"]
        self.assertGreaterEqual(memory["heaps"], 1)  # this connection's heap at least
        self.assertGreater(memory["heap_bytes"], 0)
        self.assertGreaterEqual(memory["chunks"], 1)
        self.assertGreaterEqual(memory["high_water"], memory["heap_bytes"] // max(memory["heaps"], 1))
        self.assertEqual(stats["contexts"]["active"], stats["server"]["connections"])

    def test_cpu_route_is_correct(self):
        expected = str(sum(i * i % 7 for i in range(5000))).encode()
        self.assertEqual(self.request("GET", "/cpu/5000")[::2], (200, expected))

    # ---- files and ranges

    def test_sendfile_whole(self):
        status, headers, body = self.request("GET", "/file")
        self.assertEqual(status, 200)
        self.assertEqual(headers["accept-ranges"], "bytes")
        self.assertEqual(body, data_bytes())

    def test_ranges_of_a_file(self):
        data = data_bytes()
        cases = [("bytes=0-0", 206, data[0:1], "bytes 0-0/%d" % len(data)),
                 ("bytes=100-199", 206, data[100:200], "bytes 100-199/%d" % len(data)),
                 ("bytes=-10", 206, data[-10:], "bytes %d-%d/%d" % (len(data) - 10, len(data) - 1, len(data))),
                 ("bytes=1048000-", 206, data[1048000:], "bytes 1048000-%d/%d" % (len(data) - 1, len(data))),
                 ("bytes=%d-" % len(data), 416, None, "bytes */%d" % len(data)),
                 ("bytes=0-1,5-6", 416, None, "bytes */%d" % len(data)),
                 ("lines=1-2", 200, data, None)]
        for rng, status, body, content_range in cases:
            with self.subTest(rng):
                s, h, b = self.request("GET", "/file", headers={"Range": rng})
                self.assertEqual(s, status)
                if body is not None:
                    self.assertEqual(b, body)
                self.assertEqual(h.get("content-range"), content_range)

    def test_slice_of_a_file_with_a_range_inside_it(self):
        data = data_bytes()
        status, headers, body = self.request("GET", "/slice/1000/500")
        self.assertEqual((status, body, headers["content-type"]), (200, data[1000:1500], "application/x-slice"))
        status, headers, body = self.request("GET", "/slice/1000/500", headers={"Range": "bytes=10-19"})
        self.assertEqual((status, body, headers["content-range"]), (206, data[1010:1020], "bytes 10-19/500"))
        self.assertEqual(self.request("GET", "/slice/1000/500", headers={"Range": "bytes=500-"})[0], 416)
        self.assertEqual(self.request("GET", "/slice/1048000/1000")[0], 404)  # past the end

    def test_an_offset_without_a_count_sends_the_rest_of_the_file(self):
        data = data_bytes()
        status, headers, body = self.request("GET", "/tail/1048000")
        self.assertEqual((status, body, headers["content-type"]),
                         (200, data[1048000:], "application/x-tail"))
        status, headers, body = self.request("GET", "/tail/1048000", headers={"Range": "bytes=-6"})
        self.assertEqual((status, body, headers["content-range"]),
                         (206, data[-6:], "bytes %d-%d/%d" % (570, 575, 576)))
        self.assertEqual(self.request("GET", "/tail/2000000")[0], 404)

    def test_missing_file_is_404(self):
        self.assertEqual(self.request("GET", "/missing")[0], 404)

    # ---- connections

    def test_keep_alive_reuses_one_connection(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=20)
        try:
            socks = set()
            for path in ("/hello", "/file", "/args/1", "/teapot", "/nothing", "/hello"):
                conn.request("GET", path)
                r = conn.getresponse()
                r.read()
                socks.add(id(conn.sock))
                self.assertFalse(r.will_close, path)
            self.assertEqual(len(socks), 1)
        finally:
            conn.close()

    def test_pipelined_requests_are_answered_in_order(self):
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=20) as s:
            s.sendall(b"GET /args/1 HTTP/1.1\r\nHost: x\r\n\r\n"
                      b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
                      b"GET /args/3 HTTP/1.1\r\nHost: x\r\n\r\n")
            f = s.makefile("rb")
            bodies = [read_response(f)[2] for _ in range(3)]
        self.assertEqual(json.loads(bodies[0])["parts"], ["1"])
        self.assertEqual(bodies[1], b"Hello, World!")
        self.assertEqual(json.loads(bodies[2])["parts"], ["3"])

    def test_bad_requests_get_4xx_and_the_server_keeps_serving(self):
        cases = [(b"THIS IS NOT HTTP\r\n\r\n", 400),
                 (b"GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", 431),
                 (b"GET /" + b"a" * 3000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
                 (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n", 413)]
        for raw, status in cases:
            with self.subTest(status=status):
                with socket.create_connection(("127.0.0.1", self.server.port), timeout=20) as s:
                    s.sendall(raw)
                    answer = recv_until_closed(s)
                self.assertTrue(answer.startswith(b"HTTP/1.1 %d " % status), answer[:80])
                self.assertEqual(self.request("GET", "/hello")[0], 200)

    def test_a_target_that_is_not_utf8_is_400_and_latin1_header_values_are_served(self):
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=20) as s:
            s.sendall(b"GET /args/\xff HTTP/1.1\r\nHost: x\r\n\r\n"
                      b"GET /headers HTTP/1.1\r\nHost: x\r\nX-Probe: caf\xe9\r\n\r\n")
            f = s.makefile("rb")
            first = read_response(f)
            second = read_response(f)
        self.assertEqual(first[0], 400)
        self.assertEqual((second[0], second[1]["x-seen"].encode("latin-1")), (200, b"caf\xe9"))

    def test_a_header_value_with_a_line_break_is_refused_not_sent(self):
        status, headers, body = self.request("GET", "/inject")
        self.assertEqual(status, 500)
        self.assertNotIn("set-cookie", headers)
        self.wait_for_log("is not a valid field")

    def test_curl(self):
        rc, out = curl(self.base + "/hello")
        self.assertEqual((rc, out), (0, b"Hello, World!"))
        rc, out = curl("-r", "5-9", self.base + "/file")
        self.assertEqual((rc, out), (0, data_bytes()[5:10]))
        rc, out = curl("-o", "/dev/null", "-w", "%{http_code}", self.base + "/nothing")
        self.assertEqual(out, b"404")
        # several URLs on one connection (curl reuses it)
        rc, out = curl(self.base + "/hello", self.base + "/hello", self.base + "/args/z")
        self.assertEqual(rc, 0)
        self.assertTrue(out.startswith(b"Hello, World!Hello, World!{"), out)



class ContextLimitTest(WebAppCase):
    """A route over its connection heap's byte limit (PXKIT_CONTEXT_LIMIT) gets a 500, the
    log names parallel.ContextMemoryError, and the server keeps serving: every connection's
    heap, a later route on the same worker, and the same route again."""
    ENV = {"PXKIT_CONTEXT_LIMIT": "32M"}

    def test_route_over_the_limit_is_500_and_the_server_keeps_serving(self):
        for _ in range(3):
            self.assertEqual(self.request("GET", "/hog")[0], 500)
            self.assertEqual(self.request("GET", "/hello")[::2], (200, b"Hello, World!"))
        self.wait_for_log("ContextMemoryError")
        self.assertIn("limit of 33554432 bytes", self.server.stderr())


class CommandLineTest(unittest.TestCase):
    def run_cli(self, *args):
        env = dict(os.environ, PYTHONPATH=APPS, PX_WEB_DATA=DATA)
        return subprocess.run([sys.executable, "-m", "parallel.http", *args], cwd=APPS,
                              capture_output=True, text=True, timeout=60, env=env)

    def test_bad_app_spec_is_a_usage_error(self):
        for spec, words in (("web_app", "MODULE:CLASS"), ("no_such_module:App", "cannot import"),
                            ("web_app:Nope", "no HttpServer subclass named Nope")):
            with self.subTest(spec):
                out = self.run_cli(spec, "--port", "0")
                self.assertEqual(out.returncode, 2)
                self.assertIn(words, out.stderr)

    def test_port_in_use_is_a_clear_error(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen()
            out = self.run_cli("web_app:Web", "--port", str(s.getsockname()[1]))
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("OSError", out.stderr)
        self.assertIn("bind", out.stderr)


if __name__ == "__main__":
    unittest.main()
