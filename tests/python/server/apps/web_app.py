"""An HTTP app for the server tests."""
import os

import parallel
from parallel.http import HttpServer, json_serialization, route

DATA = os.environ["PX_WEB_DATA"]  # 1 MiB written by the tests (serverlib.py)


class Web(HttpServer):
    @route
    def index(self, request):
        return "index"

    @route
    def hello(self, request):
        return b"Hello, World!"

    @route
    def args(self, request, *parts):
        return {"parts": list(parts), "query": request.args, "method": request.method}

    @route
    def headers(self, request):
        request.response.headers["X-Seen"] = request.headers.get("x-probe", "none")
        return json_serialization(request, {"ua": request.headers.get("User-Agent")})

    @route
    def boom(self, request):
        return {}["missing"]

    @route
    def hog(self, request):  # allocates until the connection heap's limit says no
        kept = []
        while True:
            kept.append(bytearray(4096))

    @route
    def teapot(self, request):
        self.error(request, 418, "short and stout")

    @route
    def created(self, request):
        request.response.status = 201
        request.response.content_type = "application/x-test"
        return b"made"

    @route
    def file(self, request):
        return self.sendfile(request, DATA)

    @route
    def tail(self, request, offset):
        return self.sendfile(request, DATA, "application/x-tail", offset=int(offset))

    @route
    def slice(self, request, offset, count):
        return self.sendfile(request, DATA, "application/x-slice", offset=int(offset),
                             count=int(count))

    @route
    def missing(self, request):
        return self.sendfile(request, DATA + ".nope")

    @route(methods=("POST",))
    def echo(self, request):
        return request.body

    @route
    def stats(self, request):
        return parallel.stats()

    @route
    def cpu(self, request, n="20000"):
        total = 0
        for i in range(int(n)):
            total += i * i % 7
        return str(total)

    @route
    def inject(self, request):
        request.response.headers["X-Bad"] = "a\r\nSet-Cookie: stolen=1"
        return b"never sent"
