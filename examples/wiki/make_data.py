#!/usr/bin/env python3
"""Generate the wiki example's data from text already on the machine (no download).

    python3 examples/wiki/make_data.py [OUT_DIR] [--articles N] [--min-bytes B] [--scale K]

Writes into OUT_DIR (default: examples/wiki/data/):

    enwiki.xml    a MediaWiki-export-like dump: <mediawiki>, a <siteinfo>, then one
                  <page><title/><ns/><id/>[<redirect/>]<revision>...<text/></revision></page>
                  per article. UTF-8, no namespace, no DOCTYPE.
    titles.txt    every title, one per line, UTF-8, sorted by Python str order, unique
    offsets.bin   array('Q') little-endian: offset of the '<' of that title's <page>
    lengths.bin   array('Q') little-endian: length of its <page>...</page> (up to the final '>')
    stamp.json    generator version and parameters; a rerun with the same ones does nothing

Articles come from three sources, in a fixed pseudo-random order (seed SEED) that mixes them
evenly, so even a 200-article dataset has every kind:

  * the standard library (sysconfig stdlib path, without site-packages): one article per module
    (docstring, contents, source) and one per documented public class, function or method;
  * man pages (/usr/share/man/**/*.gz): roff converted to plain text, translated pages titled
    with their language ("ls (1, français)"); symlinks and '.so' stubs become redirects;
  * /usr/share/doc/** text files (gunzipped, HTML tags stripped, identical files once).

Generation stops once the dump has at least --articles pages and --min-bytes bytes. If the real
text runs out first, synthetic articles are assembled from real paragraphs sampled on the way
("json.dumps (Q&A)"). --scale K adds K-1 copies of every title, "T (mirror 2)" ... "T (mirror K)",
pointing at the same bytes: the index grows, the dump does not.

Titles are unique, never contain '/', newlines or control characters; clashes get " (2)", " (3)".
Same machine, same arguments: same bytes (sorted file lists, fixed seeds, no wall-clock data).
"""

import argparse
import ast
import gzip
import hashlib
import html
import io
import json
import os
import random
import re
import sys
import sysconfig
import time
import tokenize
from array import array
from xml.sax.saxutils import escape, quoteattr

import wikidata

GENERATOR_VERSION = 1  # bump whenever the output changes, so old stamps no longer match
SEED = 20240611
STAMP_NAME = 'stamp.json'
DEFAULT_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data')
DEFAULT_ARTICLES = 50_000
DEFAULT_MIN_BYTES = 200 * 2**20
MAX_ARTICLE_CHARS = 256 * 1024  # longer texts are cut at a line end, like a size-limited page
MIRROR_MARK = ' (mirror '       # reserved for --scale copies; no real title contains it
POOL_SIZE = 20_000              # paragraphs kept for synthetic articles (reservoir sample)

LANGUAGES = {
    'cs': 'čeština', 'da': 'dansk', 'de': 'Deutsch', 'es': 'español', 'fi': 'suomi',
    'fr': 'français', 'hr': 'hrvatski', 'hu': 'magyar', 'id': 'Bahasa Indonesia',
    'it': 'italiano', 'ja': '日本語', 'ko': '한국어', 'nl': 'Nederlands', 'pl': 'polski',
    'pt': 'português', 'pt_BR': 'português do Brasil', 'ro': 'română', 'ru': 'русский',
    'sl': 'slovenščina', 'sr': 'српски', 'sv': 'svenska', 'tr': 'Türkçe', 'uk': 'українська',
    'zh_CN': '简体中文', 'zh_TW': '繁體中文',
}
SYNTHETIC_KINDS = ('overview', 'notes', 'Q&A', 'history', 'examples', 'errata', 'tutorial',
                   'what is it?', 'part #2', '100% reference')  # '?#%' test URL quoting
SYNTHETIC_HEADINGS = ('Background', 'Details', 'Usage', 'Caveats', 'Related topics', 'Remarks')
BINARY_SUFFIXES = ('.ps', '.pdf', '.eps', '.dvi', '.png', '.gif', '.jpg', '.jpeg', '.svg',
                   '.ico', '.tar', '.zip', '.jar', '.bz2', '.xz', '.ttf', '.woff', '.mo')

# Characters XML 1.0 forbids; \r is dropped too because parsers would turn it into \n.
_NOT_XML = re.compile('[\x00-\x08\x0b-\x0c\x0e-\x1f\r\ufffe\uffff]')


class Article:
    __slots__ = ('title', 'text', 'redirect', 'prose')

    def __init__(self, title, text, redirect=None, prose=''):
        self.title = title        # wanted title; the dump may disambiguate it
        self.text = text          # wikitext body
        self.redirect = redirect  # target title for a redirect page
        self.prose = prose        # the part worth reusing in synthetic articles


def clean_text(text):
    text = _NOT_XML.sub('', text.replace('\r\n', '\n'))
    if len(text) > MAX_ARTICLE_CHARS:
        cut = text.rfind('\n', 0, MAX_ARTICLE_CHARS)
        text = text[:cut if cut > 0 else MAX_ARTICLE_CHARS] + '\n\n(truncated)\n'
    return text


def clean_title(title):
    title = ' '.join(_NOT_XML.sub('', title).replace('/', ' › ').split())
    return title.replace(MIRROR_MARK, ' (mirrored ') or 'Untitled'


# ----------------------------------------------------------------------------------------------
# Standard library modules


def python_sources(stdlib):
    """Sorted (module name, path) for every .py file of the standard library."""
    found = []
    for root, dirs, files in os.walk(stdlib):
        dirs[:] = sorted(d for d in dirs if d not in ('site-packages', '__pycache__'))
        for name in sorted(files):
            if name.endswith('.py'):
                path = os.path.join(root, name)
                module = os.path.relpath(path, stdlib)[:-3].replace(os.sep, '.')
                found.append((module.removesuffix('.__init__'), path))
    return found


def read_python(path):
    with open(path, 'rb') as f:
        data = f.read()
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        return data.decode(encoding)
    except (SyntaxError, LookupError, UnicodeDecodeError):
        return data.decode('latin-1')  # a few test files are deliberately mis-encoded


def public_definitions(tree, prefix=''):
    """(qualified name, node) of documented public classes and functions, methods included."""
    for node in tree.body:
        if not isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        if node.name.startswith('_'):
            continue
        if ast.get_docstring(node):
            yield prefix + node.name, node
        if isinstance(node, ast.ClassDef):
            yield from public_definitions(node, prefix + node.name + '.')


def signature(node):
    if isinstance(node, ast.ClassDef):
        bases = ', '.join(ast.unparse(b) for b in node.bases + node.keywords)
        return f'class {node.name}({bases})' if bases else f'class {node.name}'
    prefix = 'async def' if isinstance(node, ast.AsyncFunctionDef) else 'def'
    returns = f' -> {ast.unparse(node.returns)}' if node.returns else ''
    return f'{prefix} {node.name}({ast.unparse(node.args)}){returns}'


def code_block(code):
    return f'<syntaxhighlight lang="python">\n{code.rstrip()}\n</syntaxhighlight>\n'


def summary(node):
    return ast.get_docstring(node).partition('\n')[0]


def python_articles(module, path):
    source = read_python(path).replace('\r\n', '\n')
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        tree = None  # lib2to3 test data, deliberately broken files: source only
    docstring = (ast.get_docstring(tree) or '') if tree else ''
    definitions = list(public_definitions(tree)) if tree else []
    contents = ''.join(f'* [[{module}.{name}]]: {summary(node)}\n' for name, node in definitions)
    text = f"'''{module}''' is a module of the Python standard library.\n\n{docstring}\n\n"
    if contents:
        text += f'== Contents ==\n{contents}\n'
    yield Article(module, text + '== Source ==\n' + code_block(source), prose=docstring)

    lines = source.split('\n')  # ast counts lines the same way (str.splitlines would not)
    for name, node in definitions:
        kind = 'class' if isinstance(node, ast.ClassDef) else 'function'
        first = min([node.lineno] + [d.lineno for d in node.decorator_list])
        doc = ast.get_docstring(node)
        text = (f"'''{module}.{name}''' is a {kind} of the [[{module}]] module.\n\n"
                f'<code>{signature(node)}</code>\n\n{doc}\n\n== Source ==\n'
                + code_block('\n'.join(lines[first - 1:node.end_lineno])))
        yield Article(f'{module}.{name}', text, prose=doc)


# ----------------------------------------------------------------------------------------------
# Man pages

_GLYPHS = {
    'em': '—', 'en': '–', 'hy': '-', 'mi': '-', 'aq': "'", 'dq': '"', 'lq': '“', 'rq': '”',
    'oq': '‘', 'cq': '’', 'bu': '•', 'co': '©', 'rg': '®', 'tm': '™', 'de': '°', 'ga': '`',
    'aa': '´', 'ti': '~', 'ha': '^', 'rs': '\\', 'ba': '|', 'or': '|', 'mu': '×', 'di': '÷',
    '<=': '≤', '>=': '≥', '!=': '≠', '->': '→', '<-': '←', 'pl': '+', 'eq': '=', 'sl': '/',
    ':a': 'ä', ':o': 'ö', ':u': 'ü', ':A': 'Ä', ':O': 'Ö', ':U': 'Ü', 'ss': 'ß', "'e": 'é',
    '`e': 'è', "'a": 'á', '`a': 'à', '^e': 'ê', ',c': 'ç', '~n': 'ñ', 'Fo': '«', 'Fc': '»',
    # strings that pod2man-generated pages define and use
    'L"': '"', 'R"': '"', 'C`': '"', "C'": '"', 'C+': 'C++', 'Aq': "'", 'Tm': '™',
}
_SIMPLE_ESCAPES = {'-': '-', 'e': '\\', '\\': '\\', ' ': ' ', '~': ' ', '0': ' ', "'": '´',
                   '`': '`', '.': '.', 't': '\t', 'E': '\\'}
_ROFF_ESCAPE = re.compile(r"""\\(?:
      [fFsn*] [+-]? (?: \[ ([^\]]*) \] | \( (..) | (.) )   # font, size, register, string
    | [hvwlLDXoZxbSRNCY] '[^']*'                           # motions, drawing, ... (dropped)
    | \( (..) | \[ ([^\]]*) \]                              # glyphs: \(em, \[em], \[u00E9]
    | (.)                                                   # \- \e \& \| ...
)""", re.X)
_MDOC_MACRO = re.compile(r'^[A-Z][a-z]$')
# ".if COND BODY", ".ie COND BODY": keep BODY as if COND held; ".el BODY" lines are dropped
_CONDITIONAL = re.compile(r"""[.'][ \t]* (?: (el)\b | i[ef][ \t]+ !?(?:'[^']*'[^']*'|\S+) )
                              [ \t]* (?:\\\{)? [ \t]*""", re.X)
_PARAGRAPH_REQUESTS = {'PP', 'LP', 'P', 'TP', 'TQ', 'HP', 'sp', 'br', 'Pp', 'Bl', 'El', 'Bd',
                       'Ed', 'EX', 'EE', 'nf', 'fi', 'RS', 'RE', 'Vb', 'Ve'}
_JOINED_FONT_MACROS = {'BR', 'BI', 'IB', 'IR', 'RB', 'RI'}
_TEXT_MACROS = {'B', 'I', 'SM', 'SB', 'IP', 'UR', 'MT', 'OP'}


def _roff_escape(match):
    glyph = match.group(4) or match.group(5)
    if glyph is not None:
        if glyph.startswith('u') and len(glyph) in (5, 6):
            try:
                return chr(int(glyph[1:], 16))
            except ValueError:
                return ''
        return _GLYPHS.get(glyph, '')
    string = match.group(0)[1:2] == '*' and (match.group(1) or match.group(2) or match.group(3))
    if string:
        return _GLYPHS.get(string, '')
    if match.group(6) is not None:
        return _SIMPLE_ESCAPES.get(match.group(6), '')
    return ''


def _roff_args(rest):
    """Split a request's arguments like roff: spaces separate, double quotes group."""
    return [a[1:-1].replace('""', '"') if a.startswith('"') else a
            for a in re.findall(r'"(?:[^"]|"")*"?|\S+', rest)]


def heading(text):
    return text.capitalize() if text.isupper() else text  # "SEE ALSO" -> "See also"


def roff_to_text(source):
    """Plain text with == headings == from man(7) or mdoc(7) source; approximate on purpose."""
    blocks, paragraph = [], []
    skip_until_dots = heading_next = False
    table = None  # None, 'format' (tbl options and column specs) or 'rows'
    preformatted = False

    def end_paragraph():
        if paragraph:
            blocks.append(('\n' if preformatted or table else ' ').join(paragraph))
            paragraph.clear()

    source = re.sub(r'(?<!\\)\\\n', '', source)  # a backslash at the end joins lines
    for line in source.split('\n'):
        conditional = _CONDITIONAL.match(line)
        if conditional:
            if conditional.group(1):
                continue
            line = line[conditional.end():]
        if skip_until_dots:
            skip_until_dots = not line.startswith('..')
            continue
        if '\\"' in line:
            line = line.split('\\"', 1)[0]
            if not line.strip():
                continue
        if line[:1] in ('.', "'"):
            name, _, rest = line[1:].strip().partition(' ')
            args = [_ROFF_ESCAPE.sub(_roff_escape, a) for a in _roff_args(rest)]
            if name in ('de', 'de1', 'am', 'ig'):
                skip_until_dots = True
            elif name in ('SH', 'Sh', 'SS', 'Ss'):
                end_paragraph()
                if args:
                    marks = '==' if name in ('SH', 'Sh') else '==='
                    blocks.append(f'{marks} {heading(" ".join(args))} {marks}')
                else:
                    heading_next = True
            elif name in ('TS', 'TE', 'T&'):
                end_paragraph()
                table = None if name == 'TE' else 'format'
            elif name in _PARAGRAPH_REQUESTS:
                end_paragraph()
                preformatted = name in ('nf', 'EX', 'Bd', 'Vb') or (
                    preformatted and name not in ('fi', 'EE', 'Ed', 'Ve'))
            elif name in _JOINED_FONT_MACROS:
                paragraph.append(''.join(args))
            elif name in _TEXT_MACROS:
                if name == 'IP':  # a new indented paragraph; its tag, unless just a bullet
                    end_paragraph()
                    args = [a for a in args[:1] if a not in ('•', '-', '*', '')]
                if args:
                    paragraph.append(' '.join(args))
            elif _MDOC_MACRO.match(name):
                if name in ('It', 'Nd'):
                    end_paragraph()
                words = [('-' + a if w == 'Fl' else a) for w, a in zip([name] + args, args)
                         if not _MDOC_MACRO.match(a)]
                if words:
                    paragraph.append(' '.join(words))
            continue  # every other request only formats
        if table == 'format':
            if line.rstrip().endswith('.'):  # the last column spec line ends with a dot
                table = 'rows'
            continue
        text = _ROFF_ESCAPE.sub(_roff_escape, line)
        if table == 'rows':
            if text.strip() in ('_', '=', 'T{', 'T}'):
                continue  # rules and text-block brackets
            text = text.replace('T{', '').replace('T}', '').replace('\t', ' | ')
        if heading_next:
            blocks.append(f'== {heading(text.strip())} ==')
            heading_next = False
        elif not text.strip():
            end_paragraph()
        else:
            paragraph.append(text.strip() if not preformatted else text)
    end_paragraph()
    return '\n\n'.join(b for b in blocks if b.strip())


def man_sources(root):
    """Two sorted lists of ('man', path, language code or None): English, translated pages."""
    english, translated = [], []
    for entry in sorted(os.listdir(root)):
        top = os.path.join(root, entry)
        if not os.path.isdir(top):
            continue
        language = None if entry.startswith('man') else entry
        section_dirs = [top] if language is None else [
            os.path.join(top, d) for d in sorted(os.listdir(top)) if d.startswith('man')]
        for section_dir in section_dirs:
            if not os.path.isdir(section_dir):
                continue
            for name in sorted(os.listdir(section_dir)):
                if name.endswith('.gz'):
                    item = ('man', os.path.join(section_dir, name), language)
                    (english if language is None else translated).append(item)
    return english, translated


def man_title(filename, language):
    stem = os.path.basename(filename).removesuffix('.gz')
    name, dot, section = stem.rpartition('.')
    if not dot:
        name, section = stem, '?'
    if language is None:
        return f'{name} ({section})'
    return f'{name} ({section}, {LANGUAGES.get(language.split(".")[0], language)})'


def redirect_article(title, target):
    return Article(title, f'#REDIRECT [[{target}]]\n', redirect=target)


def man_articles(path, language):
    title = man_title(path, language)
    if os.path.islink(path):
        target = os.path.realpath(path)
        if os.path.isfile(target) and target.endswith('.gz'):
            yield redirect_article(title, man_title(target, language))
        return
    with open(path, 'rb') as f:
        try:
            source = gzip.decompress(f.read()).decode('utf-8', 'replace')
        except (OSError, EOFError):
            return  # not really gzip: skip rather than guess
    if source.startswith('.so ') and source[4:].split():
        yield redirect_article(title, man_title(source[4:].split()[0], language))
        return
    name, _, details = title.partition(' (')
    body = roff_to_text(source)
    text = f"'''{name}''' is a manual page ({details}.\n\n{body}\n"
    yield Article(title, text, prose=body)


# ----------------------------------------------------------------------------------------------
# /usr/share/doc


def doc_sources(root):
    found = []
    for current, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(current, name)
            if not os.path.islink(path) and \
                    not name.lower().removesuffix('.gz').endswith(BINARY_SUFFIXES):
                found.append(('doc', path, os.path.relpath(path, root)))
    return found


def doc_articles(path, relative, seen_digests):
    with open(path, 'rb') as f:
        data = f.read()
    if path.endswith('.gz'):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError):
            return
    digest = hashlib.sha1(data).digest()
    if b'\0' in data or digest in seen_digests or not data.strip():
        return  # binary, or the same file shipped by several packages
    seen_digests.add(digest)
    content = data.decode('utf-8', 'replace')
    if path.endswith(('.html', '.htm', '.html.gz')):
        content = html.unescape(re.sub(r'(?s)<(script|style).*?</\1>|<[^>]*>', '', content))
        content = re.sub(r'\n\s*\n\s*', '\n\n', content)
    package, *rest = relative.removesuffix('.gz').split(os.sep)
    title = f'{package}: {" › ".join(rest)}' if rest else package
    text = f"'''{title}''' is documentation from the Debian package [[{package}]].\n\n{content}"
    yield Article(title, text, prose=content)


# ----------------------------------------------------------------------------------------------
# Ordering, synthetic articles


def mix_sources(groups, rng):
    """Interleave the groups in proportion to their sizes, each in a seeded random order.

    Item i of a group of n gets the key (i + 0.5) / n; sorting by key spreads every group over
    the whole sequence, so any prefix holds all kinds of articles in about the same shares.
    """
    keyed = []
    for group_number, group in enumerate(groups):
        group = list(group)
        rng.shuffle(group)
        keyed.extend(((i + 0.5) / len(group), group_number, item) for i, item in enumerate(group))
    keyed.sort(key=lambda k: k[:2])
    return [item for _, _, item in keyed]


class ParagraphPool:
    """A fixed-size uniform sample (reservoir) of the real paragraphs seen so far."""

    def __init__(self, rng, size=POOL_SIZE):
        self.rng, self.size, self.seen, self.paragraphs = rng, size, 0, []

    def offer(self, prose):
        for paragraph in prose.split('\n\n'):
            paragraph = paragraph.strip()
            if not 80 <= len(paragraph) <= 4000 or paragraph[0] in '=<*#':
                continue
            self.seen += 1
            if len(self.paragraphs) < self.size:
                self.paragraphs.append(paragraph)
            else:
                slot = self.rng.randrange(self.seen)
                if slot < self.size:
                    self.paragraphs[slot] = paragraph


def synthetic_article(rng, pool, bases):
    base = rng.choice(bases)
    title = f'{base} ({rng.choice(SYNTHETIC_KINDS)})'
    parts = [f"'''{title}''' collects passages related to [[{base}]].\n"]
    for heading in rng.sample(SYNTHETIC_HEADINGS, rng.randint(1, 4)):
        parts.append(f'== {heading} ==')
        parts.extend(rng.choice(pool.paragraphs) for _ in range(rng.randint(1, 5)))
    parts.append('== See also ==\n' + ''.join(f'* [[{rng.choice(bases)}]]\n' for _ in range(3)))
    return Article(title, '\n\n'.join(parts))


# ----------------------------------------------------------------------------------------------
# Output


class DumpWriter:
    """Writes pages and remembers, per title, where its <page> element sits in the file."""

    def __init__(self, path):
        self.file = open(path, 'wb', buffering=1 << 20)
        self.size = self.file.write(
            b'<mediawiki version="0.11" xml:lang="en">\n  <siteinfo>\n'
            b'    <sitename>pxkit wiki</sitename>\n'
            + f'    <generator>pxkit make_data.py {GENERATOR_VERSION}</generator>\n'.encode()
            + b'  </siteinfo>\n')
        self.titles, self.offsets, self.lengths = [], array('Q'), array('Q')
        self.taken = {}

    def claim(self, wanted):
        """The wanted title if still free, else the first free "wanted (n)", n >= 2."""
        title = clean_title(wanted)
        if title in self.taken:
            n = self.taken[title] + 1
            while f'{title} ({n})' in self.taken:
                n += 1
            self.taken[title] = n
            title = f'{title} ({n})'
        self.taken[title] = 1
        return title

    def write(self, article):
        """Write one page; returns its final title."""
        title = self.claim(article.title)
        page_id = len(self.titles) + 1
        text = clean_text(article.text)
        stamp = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(1_700_000_000 + 60 * page_id))
        redirect = (f'    <redirect title={quoteattr(clean_title(article.redirect))} />\n'
                    if article.redirect else '')
        page = (f'<page>\n    <title>{escape(title)}</title>\n    <ns>0</ns>\n'
                f'    <id>{page_id}</id>\n{redirect}    <revision>\n'
                f'      <id>{1_000_000 + page_id}</id>\n      <timestamp>{stamp}</timestamp>\n'
                f'      <text bytes="{len(text.encode())}" xml:space="preserve">{escape(text)}'
                '</text>\n    </revision>\n  </page>').encode()
        self.size += self.file.write(b'  ')
        self.titles.append(title)
        self.offsets.append(self.size)
        self.lengths.append(len(page))
        self.size += self.file.write(page + b'\n')
        return title

    def close(self):
        self.size += self.file.write(b'</mediawiki>\n')
        self.file.close()


def mirror_base(title):
    return title[:title.rindex(MIRROR_MARK)] if title.endswith(')') and MIRROR_MARK in title \
        else title


def write_index(directory, titles, offsets, lengths, scale):
    """Sorted titles.txt plus the parallel offset and length arrays; --scale copies included."""
    where = {title: i for i, title in enumerate(titles)}
    everything = titles + [f'{t}{MIRROR_MARK}{k})' for k in range(2, scale + 1) for t in titles]
    everything.sort()
    rows = [where[mirror_base(t)] for t in everything]
    with open(os.path.join(directory, wikidata.TITLES_NAME), 'w', encoding='utf-8',
              newline='\n') as f:
        f.writelines(t + '\n' for t in everything)
    wikidata.write_array(os.path.join(directory, wikidata.OFFSETS_NAME),
                         array('Q', (offsets[r] for r in rows)))
    wikidata.write_array(os.path.join(directory, wikidata.LENGTHS_NAME),
                         array('Q', (lengths[r] for r in rows)))
    return len(everything)


# ----------------------------------------------------------------------------------------------


def parse_args(argv):
    def positive(text):
        value = int(text)
        if value < 1:
            raise argparse.ArgumentTypeError(f'must be at least 1, not {value}')
        return value

    parser = argparse.ArgumentParser(
        description='Generate the wiki example dump and index from local text (no download).')
    parser.add_argument('out', nargs='?', default=DEFAULT_OUT, help='output directory')
    parser.add_argument('--articles', type=positive, default=DEFAULT_ARTICLES,
                        help='at least this many articles (default %(default)s)')
    parser.add_argument('--min-bytes', type=positive, default=DEFAULT_MIN_BYTES,
                        help='dump of at least this many bytes (default %(default)s)')
    parser.add_argument('--scale', type=positive, default=1,
                        help='index every title this many times (dump unchanged)')
    parser.add_argument('--max-real-articles', type=positive, default=None,
                        help='use at most this many real articles, then synthetic ones')
    parser.add_argument('--stdlib-dir', default=sysconfig.get_paths()['stdlib'],
                        help='Python sources to read (default %(default)s)')
    parser.add_argument('--man-dir', default='/usr/share/man', help='default %(default)s')
    parser.add_argument('--doc-dir', default='/usr/share/doc', help='default %(default)s')
    parser.add_argument('--force', action='store_true', help='regenerate even if up to date')
    return parser.parse_args(argv)


def collect_sources(args):
    """The groups of source items; exits with a message naming what is missing."""
    def python_group(root):
        return [('python', path, module) for module, path in python_sources(root)]

    sources = [('Python standard library sources', args.stdlib_dir, lambda d: [python_group(d)]),
               ('man pages', args.man_dir, lambda d: list(man_sources(d))),
               ('package documentation', args.doc_dir, lambda d: [doc_sources(d)])]
    groups, missing = [], []
    for what, directory, list_groups in sources:
        found = [g for g in list_groups(directory) if g] if os.path.isdir(directory) else []
        if found:
            groups.extend(found)
        else:
            missing.append(f'{what} (nothing usable in {directory})')
            print(f'make_data.py: warning: missing {missing[-1]}', file=sys.stderr)
    if not groups:
        sys.exit('make_data.py: error: no text sources on this machine; missing: '
                 + '; '.join(missing))
    return groups


def render(item, seen_digests):
    kind, path, extra = item
    if kind == 'python':
        return python_articles(extra, path)
    if kind == 'man':
        return man_articles(path, extra)
    return doc_articles(path, extra, seen_digests)


def generate(args, out):
    rng = random.Random(SEED)
    pool = ParagraphPool(random.Random(SEED + 1))
    dump = DumpWriter(os.path.join(out, wikidata.DUMP_NAME))
    real_limit = args.max_real_articles or float('inf')
    bases, seen_digests = [], set()

    def done():
        return len(dump.titles) >= args.articles and dump.size >= args.min_bytes

    for item in mix_sources(collect_sources(args), rng):
        if done() or len(dump.titles) >= real_limit:
            break
        for article in render(item, seen_digests):
            title = dump.write(article)
            if not article.redirect:
                bases.append(title)
                pool.offer(article.prose)
            if done() or len(dump.titles) >= real_limit:
                break
    real = len(dump.titles)
    if not done() and not pool.paragraphs:
        sys.exit('make_data.py: error: not enough text on this machine to assemble articles')
    while not done():
        dump.write(synthetic_article(rng, pool, bases))
    dump.close()
    entries = write_index(out, dump.titles, dump.offsets, dump.lengths, args.scale)
    return {'articles': len(dump.titles), 'real_articles': real, 'bytes': dump.size,
            'index_entries': entries}


def main(argv=None):
    args = parse_args(argv)
    started = time.monotonic()
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    params = {'generator': GENERATOR_VERSION, 'seed': SEED, 'articles': args.articles,
              'min_bytes': args.min_bytes, 'scale': args.scale,
              'max_real_articles': args.max_real_articles, 'stdlib_dir': args.stdlib_dir,
              'man_dir': args.man_dir, 'doc_dir': args.doc_dir}
    stamp_path = os.path.join(out, STAMP_NAME)
    outputs = [wikidata.DUMP_NAME, wikidata.TITLES_NAME, wikidata.OFFSETS_NAME,
               wikidata.LENGTHS_NAME]
    if not args.force and all(os.path.exists(os.path.join(out, n)) for n in outputs):
        try:
            with open(stamp_path, encoding='utf-8') as f:
                stamp = json.load(f)
        except (OSError, ValueError):
            stamp = {}
        if stamp.get('params') == params and 'result' in stamp:
            result = stamp['result']
            print(f'wiki data: skipped, {out} is up to date ({result["articles"]} articles, '
                  f'{result["bytes"]} bytes, {result["index_entries"]} index entries)')
            return
    if os.path.exists(stamp_path):
        os.remove(stamp_path)  # a run that dies half way must not look complete
    result = generate(args, out)
    with open(stamp_path, 'w', encoding='utf-8') as f:
        json.dump({'params': params, 'result': result}, f, indent=1, sort_keys=True)
    print(f'wiki data: {result["articles"]} articles ({result["real_articles"]} real), '
          f'{result["bytes"]} bytes, {result["index_entries"]} index entries, '
          f'{time.monotonic() - started:.1f} s -> {out}')


if __name__ == '__main__':
    main()
