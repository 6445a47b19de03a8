"""A large synthetic text for the memory benchmarks: seeded, written in chunks, nothing to download.

Words are drawn from a Zipf-distributed vocabulary of made-up lowercase words (as word frequencies of real text
fall off), joined by spaces, commas and full stops, with a line end about every 70 characters. That gives what
the scale benchmarks depend on: 56 distinct characters (57 with ``curly``), and a count of distinct n-grams that grows with
the text the way a real corpus's does (short n-grams repeat, long ones are mostly new), not the handful of a
repeated book nor the all-distinct n-grams of uniform noise. ``curly=True`` closes some sentences with a
right single quotation mark (U+2019), as Gutenberg texts do: one character outside Latin-1 makes Python hold
the whole text at two bytes per character.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

WORDS = 50_000
CHUNK_WORDS = 1 << 18


def _lexicon(rng: np.random.Generator) -> tuple[list[str], np.ndarray]:
    letters = np.array(list("etaoinshrdlcumwfgypbvkjxqz"))
    weights = 1.0 / np.arange(1, len(letters) + 1) ** 0.9  # common letters more common, roughly as in English
    lengths = rng.integers(1, 11, size=WORDS)
    words = ["".join(rng.choice(letters, size=n, p=weights / weights.sum())) for n in lengths]
    zipf = 1.0 / np.arange(1, WORDS + 1)
    return words, zipf / zipf.sum()


def write_text(path: Path, n_chars: int, seed: int = 0, curly: bool = False) -> Path:
    """Write exactly ``n_chars`` characters of synthetic text to ``path`` (UTF-8) and return it."""
    rng = np.random.default_rng(seed)
    words, p = _lexicon(rng)
    seps = np.array([" ", " ", " ", " ", " ", " ", ", ", ". "])
    written, column = 0, 0
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        while written < n_chars:
            picks = rng.choice(WORDS, size=CHUNK_WORDS, p=p)
            after = rng.choice(seps, size=CHUNK_WORDS)
            parts = []
            capital = True
            for w, s in zip(picks, after):
                word = words[w].capitalize() if capital else words[w]
                capital = s == ". "  # sentences start with a capital: 26 more characters, as in real text
                if curly and s == ". " and len(word) > 3:
                    s = "\u2019. "
                column += len(word) + len(s)
                if column > 70:
                    s, column = s.rstrip() + "\n", 0
                parts.append(word + s)
            chunk = "".join(parts)[: n_chars - written]
            f.write(chunk)
            written += len(chunk)
    return path
