"""The wiki example server: articles of one large XML dump, served from parallel contexts.

    examples/wiki/run.sh [--port 8080]          # build pxpython, make the data, serve
    pxpython examples/wiki/server.py [--host H] [--port P] [--workers N]   # serve
    pxpython -m parallel.http examples.wiki.server:Wiki --port 8080      # the same, generically

The data directory is $PXKIT_WIKI_DATA, by default examples/wiki/data (make_data.py's output).

The main thread loads the title index at import, before the server starts: titles in a sorted
list, offsets and lengths in two array('Q') (wikidata.py), and opens the dump once. Routes run
in parallel contexts and only read those objects: a lookup is wikidata.find, a bisect.

    /                 this index of routes, with example links
    /hello            Hello, World!
    /wiki/<title>     the article's <page>...</page> element, byte for byte from the dump;
                      a client Range applies within the article (206, 416)
    /offsets/<title>  {"title": ..., "offset": ..., "length": ...}
    /dump             the whole dump, zero-copy (sendfile), honouring Range
    /stats            parallel.stats()
    /set_secret_key/<key>, /secret_key
                      a value kept on this connection only (per-connection persistence:
                      `self.key = key` clones it into the connection's session heap)
    /login/<name>     counts logins in a dict of the main thread (call_from_main_thread)
    /users, /user/<login>
                      users from a SQLite database (made at start-up in a temporary
                      directory); each request opens its own connection, and
                      sqlite3.Connection is tracked for PX_DEALLOC, so a connection a
                      request leaves behind is closed before its context is rewound

Titles arrive URL-quoted (spaces, non-ASCII, &, ?, #, %); parallel.http unquotes each path
segment. An unknown title is a 404.

/wiki sends the article with sendfile(2): `self.sendfile(request, path, offset=, count=)`
makes those bytes of the dump the whole response, and a client Range applies within them.
`curl -r OFFSET-END /dump` gives the same bytes as /wiki/<title>.
"""

import argparse
import atexit
import os
import shutil
import sqlite3
import sys
import tempfile
import urllib.parse

import parallel
from parallel.http import HttpServer, route

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)  # for wikidata, whether imported as server or examples.wiki.server

import wikidata  # noqa: E402

DATA_ENV = 'PXKIT_WIKI_DATA'
XML = 'application/xml; charset=utf-8'


def data_directory():
    return os.path.abspath(os.environ.get(DATA_ENV) or os.path.join(HERE, 'data'))


def load(directory):
    """(titles, offsets, lengths, dump path); ImportError with what to do when
    the data is missing or unreadable, so `-m parallel.http` reports it in one line."""
    try:
        titles, offsets, lengths = wikidata.load_index(directory)
        path = wikidata.dump_path(directory)
        if not os.access(path, os.R_OK):
            raise OSError(f'cannot read {path}')
    except (OSError, ValueError) as e:
        raise ImportError(f'no usable wiki data in {directory} ({e}); generate it with '
                          f'`python3 examples/wiki/make_data.py {directory}` or point '
                          f'{DATA_ENV} at a generated directory') from e
    return titles, offsets, lengths, path


DATA_DIR = data_directory()
try:
    TITLES, OFFSETS, LENGTHS, DUMP_PATH = load(DATA_DIR)
except ImportError as e:
    if __name__ != '__main__':
        raise
    sys.exit(f'server.py: error: {e}')  # run as a script: one line, no traceback


# The users database, made by the main thread at import; requests open it read-only.
USERS_DIR = tempfile.mkdtemp(prefix='pxkit-wiki-users-')
atexit.register(shutil.rmtree, USERS_DIR, True)
USERS_DB = os.path.join(USERS_DIR, 'users.db')
wikidata.make_users_db(USERS_DB, TITLES)
USERS_URI = 'file:' + urllib.parse.quote(USERS_DB) + '?mode=ro'
parallel.track_dealloc(sqlite3.Connection)  # what a request leaves open is closed for it
USER_FIELDS = ('login', 'name', 'favourite', 'edits')

# Logins counted on the main thread: a context may read main objects but not change them, so
# the count is changed where the dict lives.
LOGINS = {}


@parallel.call_from_main_thread
def count_login(name):
    LOGINS[name] = LOGINS.get(name, 0) + 1
    return LOGINS[name]


def users_db():
    return sqlite3.connect(USERS_URI, uri=True)


def quote(title):
    return urllib.parse.quote(title, safe='')


def example_titles(count=4):
    """A few real titles for the index page and run.sh: spread over the list, one non-ASCII
    and one with a character that must be quoted, when there are such titles."""
    if not TITLES:
        return []
    step = max(1, len(TITLES) // count)
    picks = TITLES[::step][:count]
    for special in (lambda t: not t.isascii(), lambda t: any(c in t for c in '&?#%')):
        found = next((t for t in TITLES if special(t)), None)
        if found is not None and found not in picks:
            picks.append(found)
    return picks


def example_paths():
    """Paths worth trying, URL-quoted: a few articles, one offsets lookup, /hello, /stats."""
    paths = [f'/wiki/{quote(title)}' for title in example_titles()]
    if TITLES:
        paths.append(f'/offsets/{quote(TITLES[0])}')
    # (/secret_key is left out: it answers only on the connection that set one.)
    return paths + ['/hello', '/stats', '/set_secret_key/swordfish', '/login/alice', '/users',
                    '/user/user0001']


def index_text():
    lines = [f'pxkit wiki example: {len(TITLES)} articles from {DUMP_PATH}', '', 'Routes:',
             '  /                  this text',
             '  /hello             Hello, World!',
             '  /wiki/<title>      an article\'s <page> element (title URL-quoted; Range works)',
             '  /offsets/<title>   where that article is in the dump, as JSON',
             '  /dump              the whole dump (zero-copy, Range works)',
             '  /stats             parallel.stats() as JSON',
             '  /set_secret_key/<key>, /secret_key   a value kept on this connection only',
             '  /login/<name>      count of logins, kept by the main thread',
             '  /users, /user/<login>   users from a SQLite database', '', 'Try:']
    lines += [f'  {path}' for path in example_paths()] + ['']
    return '\n'.join(lines).encode()


INDEX = index_text()


class Wiki(HttpServer):
    @route
    def index(self, request):
        return INDEX

    @route
    def hello(self, request):
        return b'Hello, World!'

    @route
    def stats(self, request):
        return parallel.stats()

    @route
    def offsets(self, request, title):
        i = wikidata.find(TITLES, title)
        if i is None:
            self.error(request, 404, f'no article titled {title!r}')
        return {'title': title, 'offset': OFFSETS[i], 'length': LENGTHS[i]}

    @route
    def wiki(self, request, title):
        i = wikidata.find(TITLES, title)
        if i is None:
            self.error(request, 404, f'no article titled {title!r}')
        # Zero-copy: the article's bytes of the dump are the whole response, and the C++
        # layer applies a client Range within them (206, 416).
        return self.sendfile(request, DUMP_PATH, XML, offset=OFFSETS[i], count=LENGTHS[i])

    @route
    def dump(self, request):
        return self.sendfile(request, DUMP_PATH, XML)

    @route
    def set_secret_key(self, request, key):
        self.key = key  # cloned into this connection's session heap
        return {'secret_key': key}

    @route
    def secret_key(self, request):
        key = getattr(self, 'key', None)
        if key is None:
            self.error(request, 404, 'no secret key on this connection: '
                       'set one with /set_secret_key/<key> first (same connection)')
        return {'secret_key': key}

    @route
    def login(self, request, name):
        return {'login': name, 'count': count_login(name)}

    @route
    def users(self, request):
        db = users_db()
        total = db.execute('SELECT count(*) FROM users').fetchone()[0]
        rows = db.execute('SELECT login, name, favourite, edits FROM users ORDER BY login '
                          'LIMIT 100').fetchall()
        db.close()
        return {'total': total, 'first': [dict(zip(USER_FIELDS, row)) for row in rows]}

    @route
    def user(self, request, login):
        # Not closed here on purpose: the connection dies with the request (PX_DEALLOC would
        # close it too if a cycle kept it alive past the callback).
        row = users_db().execute('SELECT login, name, favourite, edits FROM users '
                                 'WHERE login = ?', (login,)).fetchone()
        if row is None:
            self.error(request, 404, f'no user {login!r}')
        return dict(zip(USER_FIELDS, row))


def main(argv=None):
    """Serve Wiki and print the URLs to try; returns the exit status."""
    parser = argparse.ArgumentParser(description='Serve the wiki example (data: $%s, '
                                     'default examples/wiki/data).' % DATA_ENV)
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, default=8080, help='0 picks a free port')
    parser.add_argument('--workers', type=int, default=2, help='default %(default)s')
    args = parser.parse_args(argv)
    try:
        server = parallel.server(args.host, args.port, workers=args.workers)
    except OSError as e:
        print(f'server.py: error: cannot serve on {args.host}:{args.port}: {e}', file=sys.stderr)
        return 1
    parallel.register(transport=server, protocol=Wiki)
    base = f'http://{server.host}:{server.port}'
    print(f'serving the wiki ({len(TITLES)} articles in {DATA_DIR}) on {base}/ with '
          f'{server.workers} workers (Ctrl-C stops)\ntry:', flush=True)
    for path in example_paths():
        print(f'  curl {base}{path}', flush=True)
    parallel.run()
    print('stopped', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
