"""The stdlib peer: http.server.ThreadingHTTPServer, one thread per connection.

    python3.11 stdlib_app.py PORT

Set up the way a careful user would, not with the defaults: HTTP/1.1 keep-alive with a
Content-Length, TCP_NODELAY (the handler writes headers and body separately, and with Nagle plus
delayed ACK every response waits about 40 ms), a listen backlog of 128 instead of socketserver's
5 (with 64 clients connecting at once, the SYNs over the backlog are retried a second later and
their first requests time out), and no per-request log line on stderr.
"""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cpu_work import cpu_response

ROUTES = {'/hello': lambda: b'Hello, World!', '/cpu': cpu_response}


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    disable_nagle_algorithm = True

    def do_GET(self):
        route = ROUTES.get(self.path)
        body = route() if route else b'not found'
        self.send_response(200 if route else 404)
        self.send_header('Content-Type', 'text/plain; charset=utf-8')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass


class Server(ThreadingHTTPServer):
    request_queue_size = 128
    daemon_threads = True

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):  # wrk hanging up at its end
            super().handle_error(request, client_address)


if __name__ == '__main__':
    server = Server(('127.0.0.1', int(sys.argv[1])), Handler)
    server.serve_forever()
