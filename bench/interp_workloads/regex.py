"""Regular expressions: compiled patterns over generated log-like text.

findall, sub (with a group template and a function), match and search, each over `size`
generated lines; the text comes from a fixed linear congruential generator, so every run
sees the same input.
"""
import re
import sys

WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india")
WORD = re.compile(r"\b[a-z]+\b")
DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.(?:com|org|net)")
LINE = re.compile(r"^(?P<level>INFO|WARN|ERROR) \[(?P<id>\d+)\] (?P<rest>.*)$")
NUMBER = re.compile(r"\d+(?:\.\d+)?")


def lines(count):
    state = 12345
    for i in range(count):
        state = (state * 1103515245 + 12345) & 0x7FFFFFFF
        level = ("INFO", "WARN", "ERROR")[state % 3]
        words = " ".join(WORDS[(state >> k) % len(WORDS)] for k in range(0, 15, 3))
        yield (f"{level} [{i}] {words} user{state % 97}@host{state % 13}.org "
               f"on 20{state % 30:02d}-{1 + state % 12:02d}-{1 + state % 28:02d} "
               f"took {state % 1000}.{state % 10} ms")


def main(size):
    words = dates = errors = 0
    total = 0.0
    for line in lines(size):
        words += len(WORD.findall(line))
        line = DATE.sub(r"\3/\2/\1", line)
        dates += line.count("/")
        line = EMAIL.sub(lambda m: m.group(0).split("@")[0] + "@…", line)
        m = LINE.match(line)
        if m and m.group("level") == "ERROR":
            errors += 1
        found = NUMBER.search(line, m.start("rest") if m else 0)
        total += float(found.group()) if found else 0.0
    assert dates == 2 * size


main(int(sys.argv[1]))
