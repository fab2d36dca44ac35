"""The wiki example as a WSGI app, for the memory comparison of bench/http_servers.py --wiki-data:

    PXKIT_WIKI_DATA=DIR python3.11 -m gunicorn --preload --workers 2 wiki_wsgi:application

The index (examples/wiki/wikidata.py: a sorted list of titles, two array('Q')) is loaded when the
module is imported; with --preload that is once, in gunicorn's master, before it forks, which is
the best a pre-fork server can do: the workers start sharing every page copy-on-write, and the
pages a worker touches (a bisect increments the refcount of every title it compares) get copied.

    GET /wiki/<title>     the <page> element of that article, bytes from the dump
    GET /offsets/<title>  {"title": ..., "offset": N, "length": N} as JSON
    anything else, or an unknown title: 404

the routes of pxkit's wiki server (examples/wiki/server.py) that the benchmark requests, without
its Range support.

The article is read with os.pread, not handed to wsgi.file_wrapper: gunicorn 20.1's sendfile
path sends from the start of the file whatever the file's position (it calls socket.sendfile
without an offset), so a seek-then-wrap would serve the wrong bytes.
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..',
                                'examples', 'wiki'))
import wikidata  # noqa: E402  (examples/wiki, put on the path just above)

DATA_DIR = os.environ['PXKIT_WIKI_DATA']  # as examples/wiki/server.py
TITLES, OFFSETS, LENGTHS = wikidata.load_index(DATA_DIR)
DUMP_FD = os.open(wikidata.dump_path(DATA_DIR), os.O_RDONLY)  # pread only: safe to share over fork


def _title(path, prefix):
    # PEP 3333: PATH_INFO is the URL-decoded bytes as latin-1; titles are UTF-8.
    try:
        return path[len(prefix):].encode('latin-1').decode('utf-8')
    except UnicodeError:
        return None


def _respond(start_response, status, content_type, body):
    start_response(status, [('Content-Type', content_type), ('Content-Length', str(len(body)))])
    return [body]


def application(environ, start_response):
    path = environ.get('PATH_INFO', '')
    for prefix in ('/wiki/', '/offsets/'):
        if path.startswith(prefix):
            title = _title(path, prefix)
            found = title and wikidata.article_range(TITLES, OFFSETS, LENGTHS, title)
            if not found:
                break
            offset, length = found
            if prefix == '/offsets/':
                body = json.dumps({'title': title, 'offset': offset, 'length': length}).encode()
                return _respond(start_response, '200 OK', 'application/json', body)
            body = os.pread(DUMP_FD, length, offset)
            return _respond(start_response, '200 OK', 'application/xml; charset=utf-8', body)
    return _respond(start_response, '404 Not Found', 'text/plain; charset=utf-8', b'not found')
