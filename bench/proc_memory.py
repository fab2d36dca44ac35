"""Memory of a process tree, read from /proc: the sum of RSS, and of PSS, over a process and all
its descendants (a pre-fork server's master and workers; a threaded server is one process).

    python3 bench/proc_memory.py PID...     one line per process, then the totals

Why both sums. RSS counts every resident page a process maps, so a page that a forked worker
still shares copy-on-write with its master, or a shared library, is counted once per process:
the RSS sum over a tree overstates what the tree costs. PSS (proportional set size, from
/proc/PID/smaps_rollup) divides each shared page among the processes that map it, so the PSS
sum is what the tree costs the machine. For a single process the two differ only by its shared
libraries. A process may exit while it is being read; it is then left out.
"""
import os
import sys

PAGE_SIZE = os.sysconf('SC_PAGE_SIZE')


def read_stat(pid):
    """(ppid, pgid, state) of pid from /proc/PID/stat, or None if it is gone."""
    try:
        with open(f'/proc/{pid}/stat', 'rb') as f:
            stat = f.read()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may itself contain spaces and ')'.
    fields = stat[stat.rindex(b')') + 2:].split()
    return int(fields[1]), int(fields[2]), fields[0].decode()


def all_pids():
    return [int(name) for name in os.listdir('/proc') if name.isdigit()]


def tree_pids(root):
    """root and every live descendant of it, root first."""
    children = {}
    for pid in all_pids():
        stat = read_stat(pid)
        if stat is not None:
            children.setdefault(stat[0], []).append(pid)
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo.extend(sorted(children.get(pid, ())))
    return pids


def group_pids(pgid):
    """The live (not zombie) processes of a process group."""
    pids = []
    for pid in all_pids():
        stat = read_stat(pid)
        if stat is not None and stat[1] == pgid and stat[2] != 'Z':
            pids.append(pid)
    return pids


def rss_bytes(pid):
    """Resident set size of pid in bytes (/proc/PID/statm), or None if it is gone."""
    try:
        with open(f'/proc/{pid}/statm') as f:
            return int(f.read().split()[1]) * PAGE_SIZE
    except OSError:
        return None


def pss_bytes(pid):
    """Proportional set size of pid in bytes (/proc/PID/smaps_rollup), or None if unreadable."""
    try:
        with open(f'/proc/{pid}/smaps_rollup') as f:
            for line in f:
                if line.startswith('Pss:'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def tree_memory(root):
    """{'pids': [...], 'rss': bytes, 'pss': bytes or None, 'per_pid': {pid: (rss, pss)}}."""
    per_pid = {}
    for pid in tree_pids(root):
        rss = rss_bytes(pid)
        if rss is not None:
            per_pid[pid] = (rss, pss_bytes(pid))
    pss_values = [pss for _, pss in per_pid.values()]
    return {
        'pids': list(per_pid),
        'rss': sum(rss for rss, _ in per_pid.values()),
        'pss': None if None in pss_values or not pss_values else sum(pss_values),
        'per_pid': per_pid,
    }


def mib(nbytes):
    return 'n/a' if nbytes is None else f'{nbytes / 2**20:.1f} MiB'


def main(argv):
    if not argv:
        print('usage: python3 bench/proc_memory.py PID...', file=sys.stderr)
        return 2
    for root in map(int, argv):
        memory = tree_memory(root)
        if not memory['pids']:
            print(f'{root}: no such process', file=sys.stderr)
            return 1
        for pid, (rss, pss) in memory['per_pid'].items():
            print(f'{pid:>8}  rss {mib(rss):>12}  pss {mib(pss):>12}')
        print(f'tree of {root}: {len(memory["pids"])} processes, rss sum {mib(memory["rss"])}, '
              f'pss sum {mib(memory["pss"])}')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
