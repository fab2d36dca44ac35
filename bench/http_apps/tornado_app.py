"""The tornado peer: one process, tornado's asyncio loop; tornado logs nothing for a 200.

    python3.11 tornado_app.py PORT
"""
import asyncio
import sys

import tornado.web

from cpu_work import cpu_response


class Hello(tornado.web.RequestHandler):
    def get(self):
        self.write(b'Hello, World!')


class Cpu(tornado.web.RequestHandler):
    def get(self):
        self.write(cpu_response())


async def main(port):
    app = tornado.web.Application([('/hello', Hello), ('/cpu', Cpu)])
    app.listen(port, address='127.0.0.1')
    await asyncio.Event().wait()


if __name__ == '__main__':
    asyncio.run(main(int(sys.argv[1])))
