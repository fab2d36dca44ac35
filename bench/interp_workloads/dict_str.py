"""Dicts and strings: counting, formatting, joining and splitting, comprehensions.

Builds `size` records as formatted strings, splits them back into fields, counts words in a
dict, groups records in dicts of lists and reports through f-strings and join: the str and
dict paths pure-Python glue code spends its time in.
"""
import sys

COLOURS = ["red", "green", "blue", "cyan", "magenta", "yellow", "black", "white"]


def main(size):
    records = [f"{i};{COLOURS[i % 8]};{COLOURS[(i * 7) % 8]}-{i % 13};{i * 0.5:.1f}"
               for i in range(size)]
    counts = {}
    groups = {}
    for record in records:
        ident, colour, tag, value = record.split(";")
        counts[colour] = counts.get(colour, 0) + 1
        for part in tag.split("-"):
            counts[part] = counts.get(part, 0) + 1
        groups.setdefault(colour, []).append((int(ident), float(value)))
    by_name = {name.upper(): count for name, count in counts.items() if not name.isdigit()}
    report = "\n".join(f"{name:>8}: {count:5d} ({count / max(size, 1):.1%})"
                       for name, count in sorted(by_name.items()))
    sums = {colour: sum(v for _, v in members) for colour, members in groups.items()}
    keys = " ".join(sorted(sums)).replace("e", "E").lower().split()
    assert sum(counts[c] for c in COLOURS if c in counts) == 2 * size
    assert len(report.splitlines()) == len(by_name) and len(keys) == len(sums)


main(int(sys.argv[1]))
