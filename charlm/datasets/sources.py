"""The registry: every data set of the post, its source, licence, pinned hashes and builder."""

from __future__ import annotations

from charlm.datasets.builders import _build_enwik8, _build_file, _build_helo, _build_linux, _build_names, _build_stacks
from charlm.datasets.http import Expected
from charlm.datasets.paulgraham import _build_paulgraham
from charlm.datasets.spec import ENWIK8_SPLITS, HELO_SPLITS, Source
from charlm.datasets.text import _char_rnn_text, _copy, _gutenberg, _shuffle_names, _transcode
from charlm.errors import CharlmError

NAMES: tuple[str, ...] = (
    "helo", "tinyshakespeare", "shakespeare", "paulgraham", "warandpeace", "warpeace_input", "wikipedia", "latex", "linux",
    "names", "rnn_effectiveness_post",
)
# The post's source at the commit the mirror holds (karpathy/karpathy.github.io; the post last changed 2021-02-10).
POST_COMMIT = "0c39d94ec1a22ec0e650adc2b530a347f09899e9"


def _source(name: str, sources: dict[str, Source]) -> Source:
    if name not in sources:
        raise CharlmError(f"unknown dataset {name!r}; choose from: {', '.join(sources)}")
    return sources[name]


SOURCES: dict[str, Source] = {
    s.name: s
    for s in (
        Source("helo", 'the post\'s toy training sequence "hello"', "", "no licence needed: five letters",
               _build_helo, _copy, splits=HELO_SPLITS),
        Source("tinyshakespeare", "Tiny Shakespeare (char-rnn's data/tinyshakespeare/input.txt)",
               "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
               "Shakespeare, public domain; compiled by A. Karpathy for char-rnn (MIT-licensed repository)",
               _build_file, _copy, "tinyshakespeare",
               Expected(sha256="86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed", size=1115394)),
        Source("shakespeare", "all the works of Shakespeare, 4.4 MB (Karpathy's shakespeare_input.txt)",
               "https://cs.stanford.edu/people/karpathy/char-rnn/shakespeare_input.txt",
               "Shakespeare, public domain; file compiled by A. Karpathy",
               _build_file, _transcode, None, Expected(size=4573338)),
        Source("paulgraham", "Paul Graham's essays from paulgraham.com/articles.html",
               "http://www.paulgraham.com/articles.html",
               "essays (c) Paul Graham; for local research use only, do not redistribute",
               _build_paulgraham, _copy, "paulgraham_essays",
               mirror_note="mirror: 199 essays (2021 snapshot of rafaelmarino/paul_graham_corpus), not a fresh crawl"),
        Source("warandpeace", "Tolstoy, War and Peace (Project Gutenberg #2600)",
               "https://www.gutenberg.org/cache/epub/2600/pg2600.txt",
               "public domain in the USA (the Project Gutenberg licence is cut from the prepared text)",
               _build_file, _gutenberg, "war_and_peace", recipe=2),
        Source("warpeace_input", "War and Peace as char-rnn's warpeace_input.txt: the text of the post and of "
               "Karpathy, Johnson & Fei-Fei (2015)",
               "http://cs.stanford.edu/people/karpathy/char-rnn/warpeace_input.txt", "public domain",
               _build_file, _char_rnn_text, "warpeace_input",
               # The served file is not pinned (it is the BOM + CRLF form); the text it prepares to is.
               text_sha256="b0fc81c399971eaf738c8be89809e6a0d95c151749112b04f06b6af648d8a39f"),
        Source("wikipedia", "enwik8: the first 10^8 bytes of English Wikipedia's XML dump of 2006-03-03 (Hutter prize)",
               "http://mattmahoney.net/dc/enwik8.zip", "Wikipedia text, GNU Free Documentation License",
               _build_enwik8, _copy, "enwik8_prefix",
               Expected(sha256="2b49720ec4d78c3c9fabaee6e4179a5e997302b3a70029f30f2d582218c024a8",
                        md5="a1fa5ffddb56f4953e226637dabbb36a", size=10**8),
               ENWIK8_SPLITS, mirror_partial=True,
               mirror_note="enwik6: first 10^6 bytes of enwik8 — NOT comparable with published enwik8 results"),
        Source("latex", "the Stacks project's LaTeX source, chapters in the book's order",
               "https://github.com/stacks/stacks-project/archive/refs/heads/master.tar.gz",
               "the Stacks project authors; GNU Free Documentation License",
               _build_stacks, _copy, "stacks_project"),
        Source("linux", "Linux 4.0 kernel C source (.c/.h)",
               "https://cdn.kernel.org/pub/linux/kernel/v4.x/linux-4.0.tar.xz", "GPL-2.0",
               _build_linux, _copy, "linux_kernel",
               Expected(sha256="0f2f7d44979bc8f71c4fc5d3308c03499c26a824dd311fdf6eef4dee0d7d5991",
                        md5="a86916bd12798220da9eb4a1eec3616d"),
               mirror_note="mirror: include/linux/, kernel/, mm/ of Linux 4.0 (20 MB); the post used the whole tree (474 MB, --full)"),
        Source("names", "Names Corpus v1.3 (NLTK corpora/names): male and female names, one a line, shuffled (seeded)",
               "https://raw.githubusercontent.com/nltk/nltk_data/gh-pages/packages/corpora/names.zip",
               "(c) 1991 Mark Kantrowitz, additions by Bill Ross; free to use with credit, redistribute only with its README",
               _build_names, _shuffle_names, "names", recipe=2),
        Source("rnn_effectiveness_post", "the post itself: the Markdown source of 'The Unreasonable Effectiveness "
               "of Recurrent Neural Networks' (2015-05-21)",
               f"https://raw.githubusercontent.com/karpathy/karpathy.github.io/{POST_COMMIT}/_posts/"
               "2015-05-21-rnn-effectiveness.markdown",
               "(c) Andrej Karpathy; for local research use only (quote checks, the post's closing experiment), "
               "do not redistribute",
               _build_file, _copy, "rnn_effectiveness_post",
               Expected(sha256="85b34fcfbd4ea8f826575c5e237dcd8834f525c89332c14295c1f42a37776087", size=53579)),
    )
}
assert tuple(SOURCES) == NAMES
