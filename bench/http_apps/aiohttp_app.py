"""The aiohttp peer: one process, asyncio's default event loop (no uvloop), no access log.

    python3.11 aiohttp_app.py PORT
"""
import sys

from aiohttp import web

from cpu_work import cpu_response


async def hello(request):
    return web.Response(text='Hello, World!')


async def cpu(request):
    return web.Response(body=cpu_response(), content_type='text/plain')


if __name__ == '__main__':
    app = web.Application()
    app.router.add_get('/hello', hello)
    app.router.add_get('/cpu', cpu)
    web.run_app(app, host='127.0.0.1', port=int(sys.argv[1]), access_log=None, print=None)
