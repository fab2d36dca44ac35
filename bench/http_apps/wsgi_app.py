"""The WSGI peer, for gunicorn's pre-fork sync workers:

    python3.11 -m gunicorn --workers 2 --worker-class sync --bind 127.0.0.1:P wsgi_app:application

(run from bench/http_apps, or with --chdir). Sync workers answer `Connection: close`, so every
request of the benchmark opens a new connection: that is what gunicorn's default deployment does.
"""
from cpu_work import cpu_response

ROUTES = {'/hello': lambda: b'Hello, World!', '/cpu': cpu_response}


def application(environ, start_response):
    route = ROUTES.get(environ.get('PATH_INFO', ''))
    body = route() if route else b'not found'
    start_response('200 OK' if route else '404 Not Found',
                   [('Content-Type', 'text/plain; charset=utf-8'),
                    ('Content-Length', str(len(body)))])
    return [body]
