"""A raw protocol for the server tests: greets, echoes, and answers a few commands."""
import sys
import time

import parallel


COUNTS = {}  # main-thread state, changed only by bump() on the main thread


def bump(name):
    COUNTS[name] = COUNTS.get(name, 0) + 1
    return COUNTS[name]


def slow_main_call(seconds):
    time.sleep(seconds)
    return "late"


class Echo:
    def connection_made(self, transport):
        return b"hello\r\n"

    def data_received(self, transport, data):
        cmd = data.strip()
        if cmd == b"peer":
            host, port = transport.peer
            return "%s %d" % (host, port)
        if cmd == b"boom":
            raise ValueError("boom requested by the client")
        if cmd == b"setattr":
            self.seen = object()  # not clonable: CloneError, the connection is closed
        if cmd == b"badreturn":
            return 42
        if cmd == b"bye":
            transport.send(b"bye\r\n")
            transport.close()
            return None
        if cmd.startswith(b"file "):
            _, path, offset, count = cmd.split()
            transport.sendfile(path.decode(), int(offset), int(count))
            return None
        if cmd.startswith(b"sleep "):
            time.sleep(float(cmd.split()[1]))
            return b"slept"
        if cmd.startswith(b"spin "):
            end = time.monotonic() + float(cmd.split()[1])
            n = 0
            while time.monotonic() < end:
                n += 1
            return b"spun"
        if cmd == b"stop":
            parallel.stop()
            return b"stopping"
        if cmd == b"worker":
            return str(parallel.thread_seq_id())
        if cmd.startswith(b"count "):
            return str(parallel.call_from_main_thread(bump, cmd[6:].decode()))
        if cmd == b"spin-then-call":  # still running when a stop comes, then calls main
            end = time.monotonic() + 1.0
            while time.monotonic() < end:
                pass
            try:
                return parallel.call_from_main_thread(slow_main_call, 0.1)
            except RuntimeError as e:
                return "refused: %s" % e
        if cmd == b"stats":
            return repr(sorted(parallel.stats()))
        return b"You said: " + data

    def connection_lost(self, transport, exc):
        parallel.debug("lost %s" % (exc,))


def main():
    workers = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    server = parallel.server("127.0.0.1", 0, workers=workers)
    parallel.register(transport=server, protocol=Echo)
    print("echo on http://127.0.0.1:%d/" % server.port, flush=True)
    parallel.run()
    print("run returned", flush=True)


if __name__ == "__main__":
    main()
