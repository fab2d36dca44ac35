"""Read the wiki example's data: the title index built by make_data.py.

A data directory holds (see README.md):

    enwiki.xml    the dump; one <page>...</page> element per article
    titles.txt    UTF-8, one title per line, sorted by Python str order, no duplicates
    offsets.bin   uint64 little-endian, byte offset of the '<' of each title's <page>
    lengths.bin   uint64 little-endian, byte length of that <page>...</page> element

Line i of titles.txt goes with item i of both .bin files. The main thread loads the index once;
lookups are a bisect in the sorted title list, so a request costs O(log n) string compares.
Standard library only: the server imports this module.
"""

import bisect
import os
import sqlite3
import sys
from array import array

DUMP_NAME = 'enwiki.xml'
TITLES_NAME = 'titles.txt'
OFFSETS_NAME = 'offsets.bin'
LENGTHS_NAME = 'lengths.bin'
INDEX_TYPECODE = 'Q'  # both .bin files: array('Q') stored little-endian


def load_index(directory):
    """Return (titles, offsets, lengths): a sorted list of str and two parallel array('Q')."""
    # Line by line: reading the whole file first would briefly need a second copy of it all
    # (twice that once a title is non-ASCII), which matters for a --scale'd index of 10**7 titles.
    with open(os.path.join(directory, TITLES_NAME), encoding='utf-8', newline='\n') as f:
        titles = [line.rstrip('\n') for line in f]
    offsets = _read_array(os.path.join(directory, OFFSETS_NAME), len(titles))
    lengths = _read_array(os.path.join(directory, LENGTHS_NAME), len(titles))
    return titles, offsets, lengths


def write_array(path, values):
    """Write an array('Q') as little-endian uint64, whatever the host byte order."""
    if sys.byteorder == 'big':
        values = array(INDEX_TYPECODE, values)
        values.byteswap()
    with open(path, 'wb') as f:
        values.tofile(f)


def _read_array(path, count):
    values = array(INDEX_TYPECODE)
    size = os.path.getsize(path)
    if size != count * values.itemsize:
        raise ValueError(f'{path}: {size} bytes, expected {count} entries of {values.itemsize}')
    with open(path, 'rb') as f:
        values.fromfile(f, count)
    if sys.byteorder == 'big':
        values.byteswap()
    return values


def find(titles, title):
    """Index of title in the sorted list titles, or None."""
    i = bisect.bisect_left(titles, title)
    if i < len(titles) and titles[i] == title:
        return i
    return None


def article_range(titles, offsets, lengths, title):
    """(offset, length) of title's <page> element in the dump, or None if there is no such title."""
    i = find(titles, title)
    if i is None:
        return None
    return offsets[i], lengths[i]


def dump_path(directory):
    return os.path.join(directory, DUMP_NAME)


def read_article(directory, offset, length):
    """The bytes of one <page> element; for tests and tools (the server uses sendfile)."""
    with open(dump_path(directory), 'rb') as f:
        f.seek(offset)
        return f.read(length)


def make_users_db(path, titles, count=1000):
    """Write a SQLite database of `count` users at `path` for the wiki's /users routes: logins
    user0001..., each with a name and a favourite article taken from the titles, and an
    edit count; the same titles give the same database."""
    step = max(1, len(titles) // count) if titles else 1
    rows = []
    for i in range(count):
        title = titles[(i * step) % len(titles)] if titles else ''
        rows.append((f'user{i + 1:04d}', f'Editor {i + 1}', title, (i * 7919) % 1000))
    tmp = path + '.tmp'
    if os.path.exists(tmp):
        os.remove(tmp)
    db = sqlite3.connect(tmp)
    try:
        db.execute('CREATE TABLE users (login TEXT PRIMARY KEY, name TEXT NOT NULL, '
                   'favourite TEXT NOT NULL, edits INTEGER NOT NULL)')
        db.executemany('INSERT INTO users VALUES (?, ?, ?, ?)', rows)
        db.commit()
    finally:
        db.close()
    os.replace(tmp, path)
