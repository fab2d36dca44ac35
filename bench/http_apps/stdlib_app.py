"""The stdlib peer: http.server.ThreadingHTTPServer, one thread per connection.

    python3.11 stdlib_app.py PORT

Set up the way a careful user would, not with the defaults: HTTP/1.1 keep-alive with a
Content-Length, TCP_NODELAY (the handler writes headers and body separately, and with Nagle plus
delayed ACK every response waits about 40 ms), and no per-request log line on stderr.
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


if __name__ == '__main__':
    server = ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), Handler)
    server.daemon_threads = True
    server.serve_forever()
