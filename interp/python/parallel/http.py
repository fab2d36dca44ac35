"""parallel.http: HTTP/1.1 applications served from parallel contexts (API.md, "HTTP").

    from parallel.http import HttpServer, route

    class App(HttpServer):
        @route
        def hello(self, request):            # GET /hello
            return b'Hello, World!'

    server = parallel.server('127.0.0.1', 8080)
    parallel.register(transport=server, protocol=App)
    parallel.run()

pxkit's C++ layer parses requests (Boost.Beast), enforces the limits and writes responses; this
module maps a parsed request to a route method and its return value to a response. Routing:
the first path segment names the method, the remaining segments (URL-unquoted) are its
positional arguments, `/` calls `index`. Run an app with
`pxpython -m parallel.http MODULE:CLASS [--host H] [--port P] [--workers N]`.

Everything here runs inside parallel contexts, so it keeps no state between requests and
imports nothing lazily (a context may not import).
"""
import json
import urllib.parse

import parallel

# Fill the lazy module-level caches of what the routes call while the main thread imports
# this: a context that filled them would write a main-owned global (MutationError).
urllib.parse.unquote("%41")
urllib.parse.parse_qs("a=%41&b")
json.dumps({"a": [1.5, None]})

__all__ = ["HttpServer", "HttpError", "Request", "Response", "route", "json_serialization",
           "error", "sendfile", "main"]

REASONS = {
    200: "OK", 201: "Created", 204: "No Content", 206: "Partial Content",
    301: "Moved Permanently", 302: "Found", 304: "Not Modified", 400: "Bad Request",
    401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    409: "Conflict", 413: "Content Too Large", 416: "Range Not Satisfiable",
    429: "Too Many Requests", 500: "Internal Server Error", 501: "Not Implemented",
    503: "Service Unavailable",
}
TEXT = "text/plain; charset=utf-8"
JSON = "application/json"


class HttpError(Exception):
    """Ends a request with `status`; raised by error(), caught by the server."""

    def __init__(self, status, message=None):
        super().__init__(status, message)
        self.status = status
        self.message = message


class Headers:
    """A request's header fields; names compare case-insensitively. The first field of a
    name wins for [] and get(); items() keeps every field in order."""

    __slots__ = ("_items", "_map")

    def __init__(self, items):
        self._items = items
        self._map = None  # built at the first lookup: most routes never look

    @property
    def _index(self):
        if self._map is None:
            index = {}
            for name, value in self._items:
                index.setdefault(name.lower(), value)
            self._map = index
        return self._map

    def __getitem__(self, name):
        return self._index[name.lower()]

    def get(self, name, default=None):
        return self._index.get(name.lower(), default)

    def __contains__(self, name):
        return name.lower() in self._index

    def __iter__(self):
        return (name for name, _ in self._items)

    def __len__(self):
        return len(self._items)

    def items(self):
        return list(self._items)

    def __repr__(self):
        return "Headers(%r)" % (self._items,)


class Response:
    """What a route may set before it returns: status, content_type, extra headers."""

    __slots__ = ("status", "content_type", "headers")

    def __init__(self):
        self.status = 200
        self.content_type = None
        self.headers = {}


class Request:
    __slots__ = ("method", "path", "query", "headers", "body", "version", "response", "_args")

    def __init__(self, method, path, query, headers, body, version):
        self.method = method
        self.path = path
        self.query = query
        self.headers = Headers(headers)
        self.body = body
        self.version = version
        self.response = Response()

    @property
    def range(self):
        """The Range header as (first, last) for one "bytes=first-last" range (last None when
        open-ended, first None for a suffix "-N": then last is N), or None."""
        value = self.headers.get("Range")
        if not value or not value.startswith("bytes=") or "," in value:
            return None
        first, dash, last = value[6:].strip().partition("-")
        if not dash:
            return None
        try:
            if not first:
                return (None, int(last))
            return (int(first), int(last) if last else None)
        except ValueError:
            return None

    @property
    def args(self):
        """The query string parsed: {name: [values]}."""
        return urllib.parse.parse_qs(self.query, keep_blank_values=True)

    def __repr__(self):
        return "<Request %s %s>" % (self.method, self.path)


class _File:
    __slots__ = ("path", "content_type", "offset", "count")

    def __init__(self, path, content_type, offset=0, count=None):
        self.path = path
        self.content_type = content_type
        self.offset = offset
        self.count = count


def route(func=None, *, methods=("GET", "HEAD")):
    """Marks a method of an HttpServer subclass as a route: `@route` or
    `@route(methods=("GET", "POST"))`."""
    allowed = frozenset(m.upper() for m in methods)
    if "GET" in allowed:
        allowed = allowed | {"HEAD"}

    def mark(f):
        f._px_methods = allowed
        return f

    return mark(func) if func is not None else mark


def error(request, status, message=None):
    """Ends the request with `status` (and `message` as a text body)."""
    raise HttpError(status, message)


def json_serialization(request, obj):
    """A JSON response of obj."""
    request.response.content_type = JSON
    return json.dumps(obj).encode()


def sendfile(request, path, content_type="application/octet-stream", *, offset=0, count=None):
    """Serves the file at `path` zero-copy, or only its bytes [offset, offset + count) when
    count is given (they are then the whole representation), honouring the request's Range
    header within them (206, 416); 404 when it is not a readable regular file or the slice
    lies past its end."""
    if offset < 0 or (count is not None and count < 0):
        raise ValueError("sendfile(): offset and count must be >= 0")
    if request.response.content_type is None:
        request.response.content_type = content_type
    return _File(path, request.response.content_type, offset, count)


def _headers(response, content_type):
    out = [("Content-Type", content_type)]
    for name, value in response.headers.items():
        out.append((str(name), str(value)))
    return out


class HttpServer:
    """Base class of HTTP applications. One instance is made per connection."""

    def error(self, request, status, message=None):
        raise HttpError(status, message)

    def sendfile(self, request, path, content_type="application/octet-stream", *, offset=0,
                 count=None):
        return sendfile(request, path, content_type, offset=offset, count=count)

    def json(self, request, obj):
        return json_serialization(request, obj)

    def _px_request(self, method, path, query, headers, body, version):
        """Called by the server for every request: (status, headers, body), or
        (None, headers, path) for a file."""
        request = Request(method, path, query, headers, body, version)
        try:
            value = self._px_dispatch(request)
        except HttpError as e:
            status = e.status
            text = e.message if e.message is not None else REASONS.get(status, "Error")
            body = (str(text) + "\n").encode()
            return (status, _headers(request.response, TEXT), body)
        response = request.response
        if isinstance(value, _File):
            body = (value.path if value.offset == 0 and value.count is None else
                    (value.path, value.offset, -1 if value.count is None else value.count))
            return (None, _headers(response, value.content_type), body)
        if isinstance(value, (bytes, bytearray, memoryview)):
            body = bytes(value)
            ctype = response.content_type or TEXT
        elif isinstance(value, str):
            body = value.encode()
            ctype = response.content_type or TEXT
        elif isinstance(value, (dict, list)):
            body = json.dumps(value).encode()
            ctype = response.content_type or JSON
        elif value is None:
            body = b""
            ctype = response.content_type or TEXT
        else:
            raise TypeError("a route must return bytes, str, dict, list, None or sendfile(), "
                            "not %s" % type(value).__name__)
        return (response.status, _headers(response, ctype), body)

    def _px_dispatch(self, request):
        path = request.path
        if not path.startswith("/"):
            raise HttpError(400, "bad request target")
        parts = path[1:].split("/")
        if "%" in path:
            parts = [urllib.parse.unquote(p) for p in parts]
        if len(parts) > 1 and parts[-1] == "":
            parts.pop()  # a trailing slash
        name = parts[0] or "index"
        if name.startswith("_"):
            raise HttpError(404)
        func = getattr(type(self), name, None)
        methods = getattr(func, "_px_methods", None)
        if methods is None:
            raise HttpError(404)
        if request.method not in methods:
            request.response.headers["Allow"] = ", ".join(sorted(methods))
            raise HttpError(405)
        try:
            return func(self, request, *parts[1:])
        except TypeError as e:
            # Wrong number of path segments for the route's parameters: a 404, not a 500.
            if e.__traceback__ is not None and e.__traceback__.tb_next is None:
                raise HttpError(404) from None
            raise


def main(argv=None):
    """pxpython -m parallel.http MODULE:CLASS [--host H] [--port P] [--workers N]"""
    import argparse
    import importlib
    import os
    import sys

    ap = argparse.ArgumentParser(prog="pxpython -m parallel.http",
                                 description="Serve an HttpServer subclass on all cores.")
    ap.add_argument("app", metavar="MODULE:CLASS", help="e.g. examples.wiki.server:Wiki")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    ap.add_argument("--workers", type=int, default=None, help="default: parallel.cpu_count()")
    args = ap.parse_args(argv)
    module_name, _, class_name = args.app.partition(":")
    if not module_name or not class_name:
        ap.error("the app is MODULE:CLASS, e.g. myapp:App")
    sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        ap.error("cannot import %s: %s" % (module_name, e))
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, HttpServer)):
        ap.error("%s has no HttpServer subclass named %s" % (module_name, class_name))
    server = parallel.server(args.host, args.port, workers=args.workers)
    parallel.register(transport=server, protocol=cls)
    print("serving %s on http://%s:%d/ with %d workers (Ctrl-C stops)"
          % (args.app, server.host, server.port, server.workers), flush=True)
    parallel.run()
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    # Run as -m, this file is __main__; apps subclass the HttpServer of parallel.http.
    from parallel.http import main as _main

    raise SystemExit(_main())
