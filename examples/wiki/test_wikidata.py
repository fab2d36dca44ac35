"""Tests of make_data.py and wikidata.py on small generated datasets.

python3 -m unittest discover -s examples/wiki
"""

import os
import subprocess
import sys
import tempfile
import unittest
import urllib.parse
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import wikidata  # noqa: E402

SMALL = ['--articles', '200', '--min-bytes', '1000000']


def make_data(out, *options):
    """Run the generator as a user would; returns the finished process."""
    return subprocess.run([sys.executable, os.path.join(HERE, 'make_data.py'), out, *options],
                          capture_output=True, text=True, timeout=300)


def read(path):
    with open(path, 'rb') as f:
        return f.read()


class GeneratedData(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.dirs = {}
        runs = {'small': SMALL, 'again': SMALL, 'scaled': SMALL + ['--scale', '3'],
                'synthetic': SMALL + ['--max-real-articles', '40']}
        for name, options in runs.items():
            cls.dirs[name] = os.path.join(cls.tmp.name, name)
            done = make_data(cls.dirs[name], *options)
            if done.returncode != 0:
                raise AssertionError(f'make_data.py {options} failed:\n{done.stderr}')
        cls.index = wikidata.load_index(cls.dirs['small'])

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def check_ranges(self, directory):
        dump = read(wikidata.dump_path(directory))
        titles, offsets, lengths = wikidata.load_index(directory)
        for title, offset, length in zip(titles, offsets, lengths):
            page = dump[offset:offset + length]
            self.assertTrue(page.startswith(b'<page>'), title)
            self.assertTrue(page.endswith(b'</page>'), title)
            self.assertEqual(ET.fromstring(page).findtext('title'), title)

    def test_every_range_is_one_page_with_its_title(self):
        self.check_ranges(self.dirs['small'])
        self.check_ranges(self.dirs['synthetic'])

    def test_titles_are_sorted_and_unique(self):
        titles = self.index[0]
        self.assertEqual(titles, sorted(set(titles)))

    def test_dump_is_well_formed_and_every_page_is_indexed(self):
        titles, offsets, _ = self.index
        pages = []
        for _, element in ET.iterparse(wikidata.dump_path(self.dirs['small'])):
            if element.tag == 'page':
                pages.append(element.findtext('title'))
        self.assertEqual(sorted(pages), titles)
        self.assertEqual(len(set(offsets)), len(offsets))

    def test_requested_minimums_are_reached(self):
        self.assertGreaterEqual(len(self.index[0]), 200)
        self.assertGreaterEqual(os.path.getsize(wikidata.dump_path(self.dirs['small'])), 1000000)

    def test_titles_cover_awkward_cases(self):
        titles = self.index[0] + wikidata.load_index(self.dirs['synthetic'])[0]
        self.assertFalse([t for t in titles if '/' in t or '\n' in t or t != t.strip()])
        self.assertTrue(any(not t.isascii() for t in self.index[0]), 'no non-ASCII title')
        self.assertTrue(any(' ' in t for t in self.index[0]), 'no title with a space')
        self.assertTrue(any(urllib.parse.quote(t) != t for t in titles))
        self.assertTrue(any('&' in t for t in titles), 'no title that needs XML escaping')

    def test_synthetic_articles_fill_up_when_real_text_is_limited(self):
        titles = wikidata.load_index(self.dirs['synthetic'])[0]
        self.assertGreaterEqual(len(titles), 200)
        dump = read(wikidata.dump_path(self.dirs['synthetic']))
        self.assertGreaterEqual(dump.count(b'collects passages related to'), 100)

    def test_same_arguments_give_the_same_bytes(self):
        for name in (wikidata.DUMP_NAME, wikidata.TITLES_NAME, wikidata.OFFSETS_NAME,
                     wikidata.LENGTHS_NAME):
            self.assertEqual(read(os.path.join(self.dirs['small'], name)),
                             read(os.path.join(self.dirs['again'], name)), name)

    def test_scale_multiplies_the_index_not_the_dump(self):
        self.assertEqual(read(wikidata.dump_path(self.dirs['small'])),
                         read(wikidata.dump_path(self.dirs['scaled'])))
        titles, offsets, lengths = self.index
        scaled = wikidata.load_index(self.dirs['scaled'])
        self.assertEqual(len(scaled[0]), 3 * len(titles))
        self.assertEqual(scaled[0], sorted(set(scaled[0])))
        for title, offset, length in zip(titles, offsets, lengths):
            for copy in (title, f'{title} (mirror 2)', f'{title} (mirror 3)'):
                self.assertEqual(wikidata.article_range(*scaled, copy), (offset, length), copy)

    def test_find(self):
        titles = self.index[0]
        self.assertEqual(wikidata.find(titles, titles[0]), 0)
        self.assertEqual(wikidata.find(titles, titles[-1]), len(titles) - 1)
        self.assertEqual(wikidata.find(titles, titles[7]), 7)
        self.assertIsNone(wikidata.find(titles, titles[7] + ' (no such page)'))
        self.assertIsNone(wikidata.find(titles, ''))
        self.assertIsNone(wikidata.find(titles, '\U0010ffff'))
        self.assertIsNone(wikidata.article_range(*self.index, 'No such page'))

    def test_read_article_returns_the_page(self):
        titles, offsets, lengths = self.index
        page = wikidata.read_article(self.dirs['small'], offsets[3], lengths[3])
        self.assertEqual(ET.fromstring(page).findtext('title'), titles[3])


class Runs(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.out = os.path.join(self.tmp.name, 'data')

    def tearDown(self):
        self.tmp.cleanup()

    def test_a_second_run_with_the_same_parameters_is_skipped(self):
        tiny = ['--articles', '20', '--min-bytes', '10000']
        first = make_data(self.out, *tiny)
        self.assertEqual(first.returncode, 0, first.stderr)
        self.assertNotIn('skipped', first.stdout)
        dump = wikidata.dump_path(self.out)
        os.utime(dump, (0, 0))  # regeneration would be visible as a new mtime
        second = make_data(self.out, *tiny)
        self.assertIn('skipped', second.stdout)
        self.assertEqual(os.path.getmtime(dump), 0)
        third = make_data(self.out, '--articles', '21', '--min-bytes', '10000')
        self.assertNotIn('skipped', third.stdout)
        self.assertNotEqual(os.path.getmtime(dump), 0)
        self.assertGreaterEqual(len(wikidata.load_index(self.out)[0]), 21)

    def test_missing_sources_are_named(self):
        nowhere = os.path.join(self.tmp.name, 'nowhere')
        done = make_data(self.out, '--articles', '5', '--stdlib-dir', nowhere + '1',
                         '--man-dir', nowhere + '2', '--doc-dir', nowhere + '3')
        self.assertNotEqual(done.returncode, 0)
        for n in '123':
            self.assertIn(nowhere + n, done.stderr)

    def test_bad_arguments_are_rejected(self):
        for options in (['--articles', '0'], ['--scale', 'x'], ['--min-bytes', '-1']):
            done = make_data(self.out, *options)
            self.assertEqual(done.returncode, 2, options)
            self.assertIn('error', done.stderr)
            self.assertFalse(os.path.exists(self.out))


if __name__ == '__main__':
    unittest.main()
