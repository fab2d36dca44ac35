"""The uvicorn peer (http_servers.py --uvicorn, for information): a bare ASGI callable, with
uvicorn's defaults picking uvloop and httptools when they are installed (bench/deps.sh --uvicorn).

    python3.11 -m uvicorn uvicorn_app:app --host 127.0.0.1 --port P --workers N --no-access-log
"""
from cpu_work import cpu_response

ROUTES = {'/hello': lambda: b'Hello, World!', '/cpu': cpu_response}


async def app(scope, receive, send):
    if scope['type'] != 'http':
        return  # lifespan: nothing to set up
    route = ROUTES.get(scope['path'])
    body = route() if route else b'not found'
    await send({'type': 'http.response.start', 'status': 200 if route else 404,
                'headers': [(b'content-type', b'text/plain; charset=utf-8'),
                            (b'content-length', str(len(body)).encode())]})
    await send({'type': 'http.response.body', 'body': body})
