"""Test helpers: text made on the spot and corpora from the offline mirror (nothing is committed)."""

import lzma
import os
import random
from pathlib import Path

import pytest


def make_text(n_chars: int, seed: int = 0) -> str:
    """Structured English-like text (no corpus is committed): words with a skewed distribution, lines, quotes."""
    rng = random.Random(seed)
    words = ("the of and to in is that it was for on are with as his they be at one have this from or had by "
             "word but what some we can out other were all there when up use your how said an each she which do "
             "their time if will way about many then them write would like so these her long make thing see him").split()
    weights = [1.0 / (i + 1) for i in range(len(words))]
    lines, size = [], 0
    while size < n_chars:
        line = " ".join(rng.choices(words, weights, k=rng.randint(4, 12))).capitalize() + rng.choice(".!?")
        if rng.random() < 0.2:
            line = f'"{line}" she said.'
        lines.append(line)
        size += len(line) + 1
    return "\n".join(lines)[:n_chars]


def mirror_text(name: str) -> str:
    """A corpus from the offline mirror (CHARLM_DATA_MIRROR), or skip: tests never need the network."""
    mirror = os.environ.get("CHARLM_DATA_MIRROR")
    path = Path(mirror or "/nonexistent") / name
    if not path.exists():
        pytest.skip(f"{name} not found: set CHARLM_DATA_MIRROR to the offline mirror to run this test")
    return lzma.open(path).read().decode("utf-8")
