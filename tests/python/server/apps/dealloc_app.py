"""A raw protocol whose callbacks leave PX_DEALLOC resources behind in reference cycles
(tests/ext/pxres.c, built by the dealloc tests; PXRES_DIR names where)."""
import os
import sys

sys.path.insert(0, os.environ["PXRES_DIR"])
import parallel  # noqa: E402
import pxres  # noqa: E402


class Leaver:
    def data_received(self, transport, data):
        if data.strip() == b"counts":
            c = pxres.counts()
            return "%d %d %d %d\n" % (c["acquired"], c["released"], c["deallocs"],
                                      len(os.listdir("/proc/self/fd")))
        r = pxres.FlaggedResource(1024)
        r.ref = [r]  # a cycle: alive when the callback is over
        return b"left\n"


def main():
    server = parallel.server("127.0.0.1", 0, workers=2)
    parallel.register(transport=server, protocol=Leaver)
    print("dealloc on http://127.0.0.1:%d/" % server.port, flush=True)
    parallel.run()


if __name__ == "__main__":
    main()
