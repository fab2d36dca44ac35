"""pxkit's side of bench/http_servers.py, served by pxpython's own HTTP server:

    PXPYTHON -m parallel.http pxkit_app:App --host 127.0.0.1 --port P --workers N

with bench/http_apps on PYTHONPATH. /hello is the plaintext route every peer serves too; /cpu
runs cpu_work.cpu_response (about 3 ms of pure Python) in the worker's parallel context.
"""
from parallel.http import HttpServer, route

from cpu_work import cpu_response


class App(HttpServer):
    @route
    def hello(self, request):
        return b'Hello, World!'

    @route
    def cpu(self, request):
        return cpu_response()
