"""The CPU-bound request of bench/http_servers.py: about 3 ms of pure Python on stock CPython 3.11.

Loops, integer arithmetic, string building, dict counting and a join, with no I/O and no C
accelerator doing the bulk, so a server can only go faster on it by running Python on more cores.
Every app that serves /cpu calls cpu_response(); the body is the same in every server, so a
client can check it. `python3 cpu_work.py` prints how long one call takes on this machine.
"""

CPU_ROUNDS = 14000  # about 3 ms on Debian's python3.11 on this machine (README.md, "CPU-bound")


def cpu_response(rounds=CPU_ROUNDS):
    counts = {}
    parts = []
    total = 0
    for i in range(rounds):
        total += (i * i) % 7 - (i >> 3)
        key = 'k%d' % (i % 61)
        counts[key] = counts.get(key, 0) + 1
        if i % 16 == 0:
            parts.append(f'{key}={total};')
    text = ''.join(parts)
    return f'cpu {rounds} {total} {len(text)} {len(counts)} {counts["k0"]}'.encode()


if __name__ == '__main__':
    import time

    cpu_response()
    times = []
    for _ in range(50):
        t0 = time.perf_counter()
        body = cpu_response()
        times.append(time.perf_counter() - t0)
    times.sort()
    print(f'{body.decode()}: best {times[0] * 1e3:.2f} ms, median {times[25] * 1e3:.2f} ms')
