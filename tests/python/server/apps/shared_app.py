"""A raw protocol whose connections share state through protected objects (parallel.dict,
parallel.list), written from contexts and from the main thread at once."""
import sys

import parallel

HITS = parallel.dict()     # name -> the last connection's line
LOG = parallel.list()      # every line any connection sent
TOTALS = parallel.dict(main_calls=0)


def count_on_main(name):
    # The main thread writes the same protected objects the contexts write.
    TOTALS["main_calls"] = TOTALS["main_calls"] + 1
    LOG.append("main:" + name)
    return TOTALS["main_calls"]


class Shared:
    def data_received(self, transport, data):
        cmd, _, arg = data.strip().partition(b" ")
        name = arg.decode()
        if cmd == b"hit":
            HITS[name] = {"peer": transport.peer[1], "line": name}
            LOG.append(name)
            return b"ok\n"
        if cmd == b"main":
            return b"%d\n" % parallel.call_from_main_thread(count_on_main, name)
        if cmd == b"get":
            return (repr(HITS.get(name, {}).get("line")) + "\n").encode()
        if cmd == b"count":
            return b"%d %d\n" % (len(LOG), sum(1 for x in LOG if x == name))
        if cmd == b"bad":
            try:
                HITS["bad"] = transport  # not clonable: CloneError, nothing stored
            except parallel.CloneError as e:
                return (str(e) + "\n").encode()
        return b"?\n"


if __name__ == "__main__":
    workers = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    server = parallel.server("127.0.0.1", 0, workers=workers)
    parallel.register(transport=server, protocol=Shared)
    print("shared on http://127.0.0.1:%d/" % server.port, flush=True)
    parallel.run()
    print("main_calls=%d log=%d hits=%d" % (TOTALS["main_calls"], len(LOG), len(HITS)), flush=True)
