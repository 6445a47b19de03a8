"""The corpora of the post: fetch each from its original public source (or an offline mirror), verify, prepare.

A prepared data set is ``<root>/<name>/input.txt`` (UTF-8, the text the trainer reads) plus
``<root>/<name>/meta.json``::

    name, title, source ("<url>" | "mirror:<file>" | "builtin:hello"), source_sha256, verified_against,
    sha256, bytes, chars (of input.txt), licence, partial (True only for the enwik6 prefix), note,
    recipe (version of how input.txt is made), variant ("subset" | "full", linux only), splits

``splits`` always holds ``train``, ``val`` and ``test`` as ``[start, end)`` character offsets into
input.txt (what a trainer slicing the decoded text needs), plus the ``fractions`` and ``by`` ("char" or
"byte") they were cut from and a ``convention`` sentence. Enwik8's standard split is by bytes
(90M/5M/5M), so for wikipedia the byte cut points are converted to character offsets.

Verified means: input.txt hashes to meta.json's sha256, it was made by the current recipe, and the source was
checked against a pinned hash or the mirror's MANIFEST.tsv when it was prepared (``verified_against`` says which);
where the prepared text itself is pinned (``warpeace_input``), it matches that hash too.
"""

from charlm.datasets.cli import main
from charlm.datasets.mirror import read_manifest
from charlm.datasets.sources import NAMES, SOURCES
from charlm.datasets.spec import Source
from charlm.datasets.store import dataset_dir, default_root, meta, path, prepare, read, status

__all__ = [
    "NAMES", "SOURCES", "Source", "dataset_dir", "default_root", "main", "meta", "path", "prepare", "read",
    "read_manifest", "status",
]
