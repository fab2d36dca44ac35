"""A raw protocol that keeps state on its instance (per-connection persistence)."""
import sys

import parallel


class Keeper:
    def __init__(self):
        self.count = 0      # made in the session heap with the instance
        self.items = []

    def data_received(self, transport, data):
        reply = self.answer(data)  # one line per command
        return (reply.encode() if isinstance(reply, str) else reply) + b"\n"

    def answer(self, data):
        cmd, _, arg = data.strip().partition(b" ")
        if cmd == b"set":
            self.value = arg
            return b"ok"
        if cmd == b"get":
            return getattr(self, "value", b"(none)")
        if cmd == b"del":
            del self.value
            return b"deleted"
        if cmd == b"inc":
            self.count += 1
            return str(self.count)
        if cmd == b"nested":  # containers, shared references and a cycle are kept as they are
            shared = [arg.decode()]
            loop = {"name": arg.decode()}
            loop["self"] = loop
            self.nested = {"a": shared, "b": shared, "t": (1, 2.5, None), "loop": loop}
            return b"ok"
        if cmd == b"getnested":
            n = self.nested
            return repr([n["a"], n["a"] is n["b"], n["t"], n["loop"]["self"] is n["loop"],
                         n["loop"]["name"]])
        if cmd == b"append":
            self.items.append(arg)  # an in-place change of a kept value: MutationError
        if cmd == b"extend":
            self.items = self.items + [arg]  # assignment: kept
            return str(len(self.items))
        if cmd == b"unicode":
            # a str kept in the session whose UTF-8 copy a later callback makes: the copy must
            # live in the session too, or it dangles after this callback's rewind
            self.name = "caf\u00e9-" + arg.decode()
            return b"ok"
        if cmd == b"lookup":
            b"".decode("utf-8", self.name)  # the errors argument: makes self.name's UTF-8 copy
            return self.name
        if cmd == b"setdyn":  # a name the callback computes: the key must be kept too
            name, _, value = arg.partition(b"=")
            setattr(self, "dyn_" + name.decode(), value)
            return b"ok"
        if cmd == b"getdyn":
            return getattr(self, "dyn_" + arg.decode(), b"(none)")
        if cmd == b"vars":
            return repr(sorted(vars(self)))  # materialises the instance's __dict__
        if cmd == b"soak":
            # n set/get cycles of a new 1 KiB value each; the session keeps one at a time
            n = int(arg)
            total = 0
            for i in range(n):
                self.blob = bytes([i % 251]) * 1024
                total += len(self.blob) + self.blob[0]
            return str(total)
        if cmd == b"memory":
            m = parallel.stats()["memory"]
            return "%d %d" % (m["session_bytes"], m["session_high_water"])
        if cmd == b"bad":
            self.value = [1, {"x": sys}]  # a module is not clonable
        return b"?"


def main():
    server = parallel.server("127.0.0.1", 0, workers=2)
    parallel.register(transport=server, protocol=Keeper)
    print("session on http://127.0.0.1:%d/" % server.port, flush=True)
    parallel.run()


if __name__ == "__main__":
    main()
