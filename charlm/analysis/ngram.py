"""Character n-gram language model: the counting baseline the char-RNN has to beat.

Yoav Goldberg answered "The Unreasonable Effectiveness of Recurrent Neural Networks" by showing that a plain
character n-gram counter already writes passable Shakespeare. Karpathy, Johnson & Fei-Fei (2015, "Visualizing
and Understanding Recurrent Networks") then measured the gap: best LSTM vs a 20-gram model, 1.077 vs 1.195
nats/char on War and Peace and 0.84 vs 0.889 on the Linux source. This module reproduces that baseline.

Smoothing: interpolated *modified* Kneser-Ney (Chen & Goodman 1998), the smoothing of that paper's n-gram
baseline and the best-performing classic count smoother. For order ``n`` and a context ``h``::

    P_k(w | h) = (max(a_k(h, w) - D_k(a), 0) + gamma_k(h) * P_{k-1}(w | h'))  /  T_k(h)
    gamma_k(h) = D_k1 * n1(h) + D_k2 * n2(h) + D_k3 * n3+(h)          T_k(h) = sum_w a_k(h, w)

where ``h'`` drops the oldest character of ``h``, ``n_j(h)`` counts the characters ``w`` with ``a_k(h,w) = j``
(``>= 3`` for ``n3+``), and ``a_k`` is the raw count at the top order ``k = n`` but the *continuation* count
(number of distinct characters seen just before ``h w``) below it: a lower order is only consulted when the
longer context ran out, so it should model "how many contexts does this follow", not "how often". Text
start counts as one extra distinct left character, so every n-gram seen in training has a positive count at
every level. A context never seen at level ``k`` (``T_k(h) = 0``) falls through to ``P_{k-1}`` unchanged.
The three discounts per level come from that level's count-of-counts (``Y = n1/(n1 + 2 n2)``,
``D_j = j - (j+1) Y n_{j+1}/n_j``), clipped to ``[MIN_DISCOUNT, j]``; where a count-of-count is zero (tiny
texts, or unigram counts that are all large) the textbook defaults 0.5/1.0/1.5 are used instead.

Unseen characters: below level 1 sits the uniform distribution over ``V + 1`` symbols, the ``V`` vocabulary
characters plus one ``<unk>`` bucket standing for every character outside the vocabulary. So a character never
seen in training (in the vocabulary or not) gets a small, finite probability taken from the unigram level's
discount mass, and every distribution sums to exactly 1 over the ``V + 1`` symbols. Sampling never emits
``<unk>``.

Data structure: an n-gram is identified by extending a shorter one to the *left*: the id of the k-gram ending
at position i is the rank of ``(id of the (k-1)-gram ending at i) * (V+1) + char[i-k+1]`` among all such keys.
These keys are exact (no hashing, < N * (V+1)) and one ``argsort`` per order counts a whole corpus, so order 20
on War and Peace fits in seconds with numpy alone; evaluation looks keys up with ``searchsorted``.

Scoring: every character is predicted from the ``order - 1`` characters before it in the running text, so a
held-out split is scored after the training text that precedes it (``loss(val, context=train)``), and a split
made of several pieces (char-rnn's stripes) scores each piece after its own preceding text (``loss_pieces``).
The CLI, the notebooks and the benchmarks all score this way.

Memory: counting holds a few arrays as long as the text (int32 ids, the argsort's int64 permutation) and the
fitted tables hold about ten bytes per distinct n-gram, of which a text of N characters has at most N per
order. :func:`memory_estimate` bounds both before anything is counted; ``fit(max_bytes=...)`` refuses, in one
line, a fit whose bound exceeds the memory given (the CLI gives it the memory available).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np

from charlm.errors import CharlmError
from charlm.analysis.textstats import bits as nats_to_bits  # the project's one nats -> bits conversion, under its old name here
from charlm.vocab import ENCODE_CHUNK, compact_dtype, lookup_chunks

MAX_ORDER = 20
MIN_DISCOUNT = 0.05  # keeps the back-off mass positive, so unseen characters never get probability 0
DEFAULT_DISCOUNTS = (0.5, 1.0, 1.5)  # Chen & Goodman's typical D1, D2, D3+, used when counts cannot estimate them
UNK = "<unk>"
PROGRESS_MIN_CHARS = 1 << 22  # below ~4M characters a fit takes seconds: no progress bar
SCORE_CHUNK = 1 << 18  # positions scored at once: bounds scoring's temporaries at any text length


def kn_discounts(count_of_counts: Sequence[int]) -> tuple[float, float, float]:
    """Modified-KN discounts (D1, D2, D3+) from the numbers of n-grams seen exactly 1, 2, 3, 4 times.

    Chen & Goodman's closed-form estimate; each D_j is clipped to [MIN_DISCOUNT, j] so that a count j never goes
    negative (which keeps every distribution normalised) and some mass is always left for back-off. Where a
    count-of-count needed by the formula is zero the default D_j is used.
    """
    n1, n2, n3, n4 = (int(c) for c in count_of_counts)
    y = n1 / (n1 + 2 * n2) if n1 > 0 and n2 > 0 else None
    nexts = (n2, n3, n4)
    prevs = (n1, n2, n3)
    out = []
    for j in (1, 2, 3):
        if y is None or prevs[j - 1] == 0 or nexts[j - 1] == 0:
            d = DEFAULT_DISCOUNTS[j - 1]
        else:
            d = j - (j + 1) * y * nexts[j - 1] / prevs[j - 1]
        out.append(min(max(d, MIN_DISCOUNT), float(j)))
    return out[0], out[1], out[2]


@dataclass
class _Level:
    """The tables of one n-gram order k (context length k-1).

    keys:  (U_k,) sorted left-extension keys ``suffix_id * (V+1) + first_char`` of the distinct k-grams
    count: (U_k,) a_k per k-gram: raw count at the top order, continuation count below it
    total: (U_{k-1},) T_k(h) per (k-1)-gram used as a context (0 where it never preceded anything)
    nj:    (3, U_{k-1}) n1, n2, n3+ per context
    discounts: (4,) [0, D1, D2, D3+] indexed by min(a, 3)
    """

    keys: np.ndarray
    count: np.ndarray
    total: np.ndarray
    nj: np.ndarray
    discounts: np.ndarray
    width: int  # V + 1, the key radix

    def lookup(self, parent: np.ndarray, first: np.ndarray) -> np.ndarray:
        """Ids of the k-grams (parent (k-1)-gram id, first char); -1 where the parent or the k-gram is unseen."""
        if len(self.keys) == 0:
            return np.full(len(parent), -1, dtype=np.int64)
        # same dtype as the table, or searchsorted would convert the whole table on every call
        key = (parent.astype(np.int64) * self.width + first).astype(self.keys.dtype)
        idx = np.searchsorted(self.keys, key)
        idx = np.minimum(idx, len(self.keys) - 1)
        found = (parent >= 0) & (self.keys[idx] == key)
        return np.where(found, idx, -1)

    def interpolate(self, p_lower: np.ndarray, ctx: np.ndarray, gram: np.ndarray) -> np.ndarray:
        """Apply one KN level: P_k from P_{k-1} for contexts ``ctx`` and k-grams ``gram`` (ids, -1 = unseen)."""
        if len(self.count) == 0:
            return p_lower  # training text shorter than k: no context of this level was seen
        safe_ctx = np.maximum(ctx, 0)
        total = self.total[safe_ctx].astype(np.float64)
        seen_ctx = (ctx >= 0) & (total > 0)
        a = np.where(gram >= 0, self.count[np.maximum(gram, 0)], 0).astype(np.float64)
        d = self.discounts[np.minimum(a, 3).astype(np.intp)]
        nj = self.nj[:, safe_ctx].astype(np.float64)
        gamma = self.discounts[1] * nj[0] + self.discounts[2] * nj[1] + self.discounts[3] * nj[2]
        with np.errstate(divide="ignore", invalid="ignore"):
            p = (np.maximum(a - d, 0.0) + gamma * p_lower) / total
        return np.where(seen_ctx, p, p_lower)


def _check_order(order: int) -> None:
    if not isinstance(order, (int, np.integer)) or isinstance(order, bool) or not 1 <= order <= MAX_ORDER:
        raise CharlmError(f"n-gram order {order!r} is out of range; pick an integer from 1 to {MAX_ORDER}")


def _id_dtype(n: int) -> type:
    """Ids of n-grams of a text of n characters (at most n distinct per order)."""
    return np.int32 if n < 2**31 else np.int64


def _small_uint(max_value: int) -> type:
    if max_value < 2**8:
        return np.uint8
    return np.uint16 if max_value < 2**16 else np.uint32


def _group(key: np.ndarray, id_dtype: type) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sort-based counting: (sorted distinct keys, id of each element's key, one position per distinct key).

    One quicksort argsort; cheaper than np.unique(return_index=True), which needs a stable sort. Takes ``key``
    over: it is freed as soon as it is sorted (call it with an expression, not a name that keeps it alive).
    """
    perm = np.argsort(key)
    sorted_keys = key[perm]
    del key
    new = np.empty(len(sorted_keys), dtype=bool)
    new[:1] = True
    np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=new[1:])
    distinct = sorted_keys[new]
    del sorted_keys
    ids_sorted = np.cumsum(new, dtype=id_dtype)
    ids_sorted -= 1
    ids = np.empty(len(new), dtype=id_dtype)
    ids[perm] = ids_sorted
    return distinct, ids, perm[new]


# ---- memory ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemoryEstimate:
    """Upper bounds, in bytes, of what fitting needs: arrays that live while counting, and the tables it keeps."""

    counting: int
    tables: int

    @property
    def total(self) -> int:
        return self.counting + self.tables

    def __str__(self) -> str:
        return f"at most {_gib(self.total)} (counting {_gib(self.counting)}, tables {_gib(self.tables)})"


def _gib(n_bytes: float) -> str:
    return f"{n_bytes / 2**30:.2f} GiB" if n_bytes >= 2**28 else f"{n_bytes / 2**20:.0f} MiB"


def _itemsize(dtype: type) -> int:
    return np.dtype(dtype).itemsize


def memory_estimate(n_chars: int, order: int, n_symbols: int, distinct: Sequence[int] | None = None) -> MemoryEstimate:
    """Bytes :meth:`NGramModel.fit` needs for ``n_chars`` characters of ``n_symbols`` symbols (vocabulary +
    <unk>), from the arrays ``_build_levels`` and ``_finish_level`` allocate, given the number of distinct
    k-grams for k = 1..order (``distinct``; by default as many as there can be: min(positions, n_symbols**k)).

    Tables: level k keeps a key and a count per distinct k-gram, and a total and three n_j per distinct
    (k-1)-gram. Counting level k holds the codes and the ids of the (k-1)-grams at every position, and either
    the sort's arrays per position (key, int64 permutation, sorted keys; then ids) or, while the level below is
    finished, the k-gram ids and a handful of arrays per distinct n-gram. Counting is added to the whole
    tables, a little more than ever coexist.
    """
    n, width = int(n_chars), int(n_symbols)
    ids = _itemsize(_id_dtype(n))
    code = _itemsize(compact_dtype(width))
    small = _itemsize(_small_uint(width))  # continuation counts and n_j are at most width
    grams = [1] + [min(max(n - k + 1, 0), width**k) for k in range(1, order + 1)]
    if distinct is not None:
        grams[1:] = [min(g, int(d)) for g, d in zip(grams[1:], distinct)]
    # encoding, before any counting: the codes, and per character of a chunk its UTF-32 bytes, two int64 index
    # arrays, the known flags, the code points gathered and the codes picked
    tables, counting = 0, code * n + min(n, ENCODE_CHUNK) * (4 + 8 + 8 + 1 + 4 + 2 * code)
    for k in range(1, order + 1):
        key = 4 if grams[k - 1] * width < 2**31 else 8
        prev_key = 4 if k < 2 or grams[k - 2] * width < 2**31 else 8
        top = k == order
        count = _itemsize(_small_uint(n)) if top else small
        total = _itemsize(_small_uint(n if top else width * width))
        tables += grams[k] * (key + count) + grams[k - 1] * (total + 3 * small)
        m = max(n - k + 1, 0)
        held = code * n + ids * (n + 1)  # codes; ids of the (k-1)-grams at every position
        # the sort: key, int64 permutation and sorted keys, then the permutation, flags, sorted ids and ids;
        # beside it the level below, pending (distinct keys, contexts)
        sorting = max(m * (2 * key + 8), m * (8 + 1 + 2 * ids) + grams[k] * key) + grams[k - 1] * (prev_key + ids)
        # finishing the level below: this level's ids, distinct keys, contexts (and raw counts at the top), the
        # pending level's keys and contexts; then either keys // width and its bincount, or that bincount, a
        # mask and the contexts it selects beside the int64 and float64 bincounts over the level below that
        finishing = (ids * m + grams[k] * (key + ids + (8 if top else 0)) + grams[k - 1] * (prev_key + ids)
                     + max(grams[k] * key + grams[k - 1] * 8,
                           grams[k - 1] * (8 + 1 + ids) + (grams[k - 2] if k > 1 else 1) * (8 + 8)))
        counting = max(counting, held + max(sorting, finishing))
    return MemoryEstimate(counting=int(counting), tables=int(tables))


SAMPLE_CHARS = 1 << 20  # counted to estimate the distinct n-grams of a larger text: about 1.5 s at order 20
SAMPLE_SLICES = 64


def distinct_estimate(text: str, order: int) -> list[int] | None:
    """Distinct k-grams of ``text`` for k = 1..order, estimated from ``SAMPLE_CHARS`` characters taken as
    ``SAMPLE_SLICES`` evenly spaced slices: each count on the sample, scaled by len(text) / sample length.
    A text adds new n-grams ever more slowly as it grows, so the scaled count over-estimates (by 1.1x in sum at
    order 20 on War and Peace and on the synthetic benchmark text). None for texts under two samples long,
    where the plain bound is small anyway."""
    n = len(text)
    if n < 2 * SAMPLE_CHARS:
        return None
    step, length = n // SAMPLE_SLICES, SAMPLE_CHARS // SAMPLE_SLICES
    sample = "".join(text[i * step : i * step + length] for i in range(SAMPLE_SLICES))
    points = np.frombuffer(sample.encode("utf-32-le", errors="surrogatepass"), dtype=np.uint32)
    symbols, codes = np.unique(points, return_inverse=True)  # any consistent ids will do for counting
    width = len(symbols) + 1
    counts, starts, types = [], np.zeros(len(codes) + 1, dtype=np.int32), 1
    for k in range(1, order + 1):
        m = len(codes) - k + 1
        dtype = np.int32 if types * width < 2**31 else np.int64
        distinct, starts, _ = _group(_left_keys(starts[1 : m + 1], codes[:m], width, dtype), np.int32)
        types = len(distinct)
        counts.append(math.ceil(types * n / len(sample)))
    return counts


def estimate_memory(text: str, order: int, n_symbols: int) -> MemoryEstimate:
    """:func:`memory_estimate` for ``text``, with its distinct n-grams estimated from a sample when it is large."""
    return memory_estimate(len(text), order, n_symbols, distinct_estimate(text, order))


def available_memory() -> int | None:
    """Bytes this process can still use: the kernel's MemAvailable, capped by a cgroup (container) limit; None
    where neither can be read."""
    found: list[int] = []
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            found += [int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:")]
    except OSError:
        pages = getattr(os, "sysconf_names", {}).get("SC_AVPHYS_PAGES")
        if pages is not None:
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    try:  # cgroup v2: a container's limit, which MemAvailable does not see
        limit = open("/sys/fs/cgroup/memory.max", encoding="ascii").read().strip()
        used = open("/sys/fs/cgroup/memory.current", encoding="ascii").read().strip()
        if limit != "max":
            found.append(int(limit) - int(used))
    except (OSError, ValueError):
        pass
    return min(found) if found else None


def check_memory(need: MemoryEstimate, n_chars: int, order: int, max_bytes: int,
                 lower_orders: Callable[[int], MemoryEstimate], limit: str = "available") -> None:
    """A one-line CharlmError when ``need`` exceeds ``max_bytes``, naming the highest order that fits."""
    if need.total <= max_bytes:
        return
    fits = next(((k, e) for k in range(order - 1, 0, -1) if (e := lower_orders(k)).total <= max_bytes), None)
    lower = f"order {fits[0]} needs at most {_gib(fits[1].total)}" if fits else "no order fits: use less text"
    raise CharlmError(
        f"an order-{order} n-gram model of {n_chars:,} characters needs {need}, more than the {_gib(max_bytes)} "
        f"{limit}; lower the order ({lower}), use less text, or allow more with --max-memory GIB"
    )


class NGramModel:
    """Interpolated modified-Kneser-Ney character n-gram model (see the module docstring for the maths).

    Build with :meth:`fit`. ``order`` is n (context of n-1 characters); ``vocab`` lists the V characters;
    distributions from :meth:`prob_dist` have V + 1 entries, the last one being ``<unk>``.
    """

    def __init__(self, order: int, vocab: list[str], levels: list[_Level]) -> None:
        self.order = order
        self.vocab = vocab
        self._levels = levels  # levels[k-1] holds order k
        points = np.array([ord(c) for c in vocab], dtype=np.uint32)
        order = np.argsort(points)
        self._sort = order.astype(compact_dtype(len(vocab) + 1))  # vocab index of the i-th smallest code point
        self._sorted_points = points[order]

    # ---- construction -------------------------------------------------------------------------------------

    @classmethod
    def fit(cls, text: str, order: int, vocab: Sequence[str] | None = None, *, max_bytes: int | None = None,
            progress: bool = False) -> "NGramModel":
        """Count all 1..order-grams of ``text`` and compute the KN tables.

        ``vocab`` defaults to the sorted distinct characters of ``text``; characters of ``text`` outside a given
        vocab are counted as ``<unk>``. With ``max_bytes``, a fit whose memory bound (:func:`memory_estimate`)
        exceeds it is refused before anything is counted. ``progress`` shows a bar (on stderr) for texts of
        ``PROGRESS_MIN_CHARS`` or more.
        """
        _check_order(order)
        if not text:
            raise CharlmError("cannot fit an n-gram model on empty text; give a non-empty training text")
        vocab_list = sorted(set(text)) if vocab is None else list(vocab)
        if not vocab_list or any(len(c) != 1 for c in vocab_list) or len(set(vocab_list)) != len(vocab_list):
            raise CharlmError("vocab must be a non-empty sequence of distinct single characters; pass vocab=None to infer it")
        if max_bytes is not None:
            width = len(vocab_list) + 1
            distinct = distinct_estimate(text, order)
            need = memory_estimate(len(text), order, width, distinct)
            check_memory(need, len(text), order, max_bytes,
                         lambda k: memory_estimate(len(text), k, width, distinct[:k] if distinct else None),
                         "allowed (max_bytes)")
        model = cls(order, vocab_list, [])
        with _bar(progress and len(text) >= PROGRESS_MIN_CHARS, order, f"counting {len(text):,} chars",
                  "order") as bar:
            model._levels = _build_levels(model._encode(text), order, len(vocab_list) + 1, bar)
        return model

    def _encode(self, text: str) -> np.ndarray:
        """(len(text),) compact symbol ids: vocab index, or V for characters outside the vocabulary (<unk>)."""
        unk = len(self.vocab)
        codes = np.empty(len(text), dtype=self._sort.dtype)
        for start, pos, known in lookup_chunks(text, self._sorted_points, "the text"):
            codes[start : start + len(pos)] = np.where(known, self._sort[pos], unk)
        return codes

    # ---- scoring ------------------------------------------------------------------------------------------

    def _probs_of_sequence(self, codes: np.ndarray, start: int) -> np.ndarray:
        """(len(codes) - start,) P(codes[i] | up to order-1 previous codes) for i >= start.

        Walks the levels bottom-up; ``gram`` holds the id of the k-gram ending at each position (-1 if unseen
        or if it would reach before the sequence start) and the level-k context of position i is the
        (k-1)-gram ending at i-1, i.e. the previous level's ids shifted by one.
        """
        n_pos = len(codes)
        p = np.full(n_pos - start, 1.0 / (len(self.vocab) + 1))
        prev = np.zeros(n_pos, dtype=np.int64)  # order-0 ids: the empty gram, id 0, everywhere
        for k, level in enumerate(self._levels, start=1):
            gram = np.full(n_pos, -1, dtype=np.int64)
            if n_pos >= k:
                gram[k - 1 :] = level.lookup(prev[k - 1 :], codes[: n_pos - k + 1])
            ctx = np.zeros(n_pos - start, dtype=np.int64) if k == 1 else _shifted(prev, start)
            p = level.interpolate(p, ctx, gram[start:])
            if k > 1 and not np.any(ctx >= 0):
                break  # no context of this length was seen, so no longer one can be
            prev = gram
        return p

    def _nll(self, text: str, context: str, bar=None) -> float:
        """Summed negative log-likelihood (nats) of ``text``, each character after the order-1 before it in
        ``context + text``."""
        prefix = context[max(0, len(context) - (self.order - 1)) :] if self.order > 1 else ""
        codes = self._encode(prefix + text)
        total = 0.0
        for begin in range(len(prefix), len(codes), SCORE_CHUNK):  # chunks overlap by the order-1 chars before
            lo = max(0, begin - (self.order - 1))
            probs = self._probs_of_sequence(codes[lo : begin + SCORE_CHUNK], begin - lo)
            total -= float(np.log(probs).sum())
            if bar is not None:
                bar.update(len(probs))
        return total

    def loss(self, text: str, context: str = "", *, progress: bool = False) -> float:
        """Mean negative log-likelihood in nats/char of ``text``.

        Each character is predicted from the previous order-1 characters of ``context + text``: a held-out
        split is scored after the text that precedes it (``context`` = the training text, of which only the
        last order-1 characters matter). Without a ``context`` the first characters of ``text`` use the
        shorter contexts available.
        """
        if not text:
            raise CharlmError("cannot score empty text; give a non-empty held-out text")
        with _bar(progress and len(text) >= PROGRESS_MIN_CHARS, len(text), "scoring", "char") as bar:
            return self._nll(text, context, bar) / len(text)

    def loss_pieces(self, pieces: Iterable[tuple[str, str]], *, progress: bool = False) -> float:
        """Mean nats/char over several ``(context, text)`` pieces, each ``text`` scored after its own ``context``
        as in :meth:`loss`, weighted by characters: the loss of a split made of separate stretches of a text
        (char-rnn's stripes, each scored after the text that precedes it in its row)."""
        pieces = list(pieces)
        chars = sum(len(text) for _, text in pieces)
        if chars == 0:
            raise CharlmError("cannot score empty text; give at least one non-empty held-out piece")
        with _bar(progress and chars >= PROGRESS_MIN_CHARS, chars, "scoring", "char") as bar:
            return sum(self._nll(text, context, bar) for context, text in pieces if text) / chars

    def bits_per_char(self, text: str, context: str = "") -> float:
        """:meth:`loss` in bits per character."""
        return nats_to_bits(self.loss(text, context))

    def prob_dist(self, context: str) -> np.ndarray:
        """(V + 1,) float64 next-character distribution after ``context`` (last entry: <unk>); sums to 1."""
        width = len(self.vocab) + 1
        ctx = self._encode(context[max(0, len(context) - (self.order - 1)) :] if self.order > 1 else "")
        p = np.full(width, 1.0 / width)
        cand = np.zeros(width, dtype=np.int64)  # id of (last k-1 context chars + w) for each candidate w
        cand_prev = cand
        ctx_id = np.zeros(1, dtype=np.int64)  # id of the last k-1 context chars
        for k, level in enumerate(self._levels, start=1):
            if k == 1:
                cand = level.lookup(np.zeros(width, dtype=np.int64), np.arange(width))
            elif k - 1 <= len(ctx):
                cand = level.lookup(cand_prev, np.full(width, ctx[len(ctx) - (k - 1)]))
            else:
                break
            p = level.interpolate(p, np.broadcast_to(ctx_id, (width,)), cand)
            if k < self.order and k <= len(ctx):
                ctx_id = self._levels[k - 1].lookup(ctx_id, ctx[len(ctx) - k : len(ctx) - k + 1])
                if ctx_id[0] < 0:
                    break
            cand_prev = cand
        return p

    # ---- generation ---------------------------------------------------------------------------------------

    def sample(self, length: int, temperature: float = 1.0, prime: str = "", seed: int | None = None) -> str:
        """Generate ``length`` characters following ``prime`` (the prime itself is not returned).

        Temperature reshapes the distribution as p^(1/T), renormalised; ``temperature=0`` picks the argmax
        (ties to the earliest vocab entry). ``<unk>`` is never emitted.
        """
        if length < 0:
            raise CharlmError(f"sample length {length} is negative; ask for 0 or more characters")
        if temperature < 0 or not math.isfinite(temperature):
            raise CharlmError(f"temperature {temperature} must be a finite number >= 0; use 1.0 for plain sampling")
        rng = np.random.default_rng(seed)
        text = prime
        out: list[str] = []
        for _ in range(length):
            p = self.prob_dist(text)[:-1]  # drop <unk>
            if temperature == 0:
                idx = int(np.argmax(p))
            else:
                logits = np.log(p) / temperature
                w = np.exp(logits - logits.max())
                idx = int(rng.choice(len(w), p=w / w.sum()))
            out.append(self.vocab[idx])
            text = (text + self.vocab[idx])[-self.order :]
        return "".join(out)

    # ---- introspection ------------------------------------------------------------------------------------

    @property
    def ngram_counts(self) -> list[int]:
        """Number of distinct k-grams seen in training, for k = 1..order."""
        return [len(level.keys) for level in self._levels]

    @property
    def discounts(self) -> np.ndarray:
        """(order, 3) KN discounts D1, D2, D3+ per level."""
        return np.array([level.discounts[1:] for level in self._levels])

    @property
    def nbytes(self) -> int:
        """Memory held by the count tables."""
        return sum(a.nbytes for lv in self._levels for a in (lv.keys, lv.count, lv.total, lv.nj))

    def __repr__(self) -> str:
        return f"NGramModel(order={self.order}, vocab={len(self.vocab)} chars, {self.nbytes / 2**20:.1f} MiB)"


def _shifted(prev: np.ndarray, start: int) -> np.ndarray:
    """prev[i-1] for i in [start, len(prev)); -1 for i = 0 (nothing before the sequence start)."""
    if start > 0:
        return prev[start - 1 : -1]
    return np.concatenate(([-1], prev[:-1]))


def _bar(show: bool, total: int, desc: str, unit: str):
    """A tqdm bar on stderr, or a do-nothing stand-in (tqdm's own ``disable``), used as a context manager."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=not show, file=sys.stderr, unit_scale=unit == "char")


def _build_levels(codes: np.ndarray, order: int, width: int, bar=None) -> list[_Level]:
    """Count 1..order-grams of ``codes`` (symbol ids < width) into KN tables, one sort per order.

    ``starts`` holds, for each position j, the id of the n-gram of the current length that starts at j; the
    k-gram at j is the character at j prepended to the (k-1)-gram at j+1. Level k's continuation counts need
    the distinct (k+1)-grams, so each level is finished one step late.
    """
    n = len(codes)
    id_dtype = _id_dtype(n)
    levels: list[_Level] = []
    starts = np.zeros(n + 1, dtype=id_dtype)  # the 0-gram (the empty one, id 0) starting at each position
    n_prev_types = 1
    pending: tuple[np.ndarray, np.ndarray, np.ndarray | None, int] | None = None  # (keys, ctx, raw count, n_ctx)
    for k in range(1, order + 1):
        m = max(n - k + 1, 0)  # k-grams in the text
        if m == 0:
            keys, ctx, raw = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=id_dtype), np.zeros(0, dtype=np.int64)
            grams = np.zeros(0, dtype=id_dtype)
        else:
            # one key per position: (id of the (k-1)-gram at j+1) * width + char at j; int32 sorts ~1.5x faster
            small = n_prev_types * width < 2**31
            keys, grams, first = _group(_left_keys(starts[1 : m + 1], codes[:m], width, np.int32 if small else np.int64),
                                        id_dtype)
            raw = np.bincount(grams, minlength=len(keys)) if k == order else None  # only the top order keeps raw counts
            # the context h of each distinct k-gram "h w": the (k-1)-gram at the same position
            ctx = np.zeros(len(keys), dtype=id_dtype) if k == 1 else starts[first]
            del first
        if pending is not None:
            p_keys, p_ctx, _, p_nctx = pending
            # continuation count: distinct left extensions, plus one for the (k-1)-gram at the very start
            cont = np.bincount(keys // width, minlength=len(p_keys)) if len(keys) else np.zeros(len(p_keys), np.int64)
            if len(starts):
                cont[starts[0]] += 1
            levels.append(_finish_level(p_keys, p_ctx, cont, p_nctx, width))
            del p_keys, p_ctx, cont
        pending = (keys, ctx, raw, n_prev_types)
        n_prev_types = len(keys)
        starts = grams
        del keys, ctx, raw, grams
        if bar is not None:
            bar.set_postfix_str(f"{n_prev_types:,} distinct {k}-grams", refresh=False)
            bar.update(1)
    assert pending is not None
    del starts
    keys, ctx, raw, n_ctx = pending
    pending = None
    levels.append(_finish_level(keys, ctx, raw if raw is not None else np.zeros(0, np.int64), n_ctx, width))
    return levels


def _left_keys(suffix: np.ndarray, first: np.ndarray, width: int, dtype: type) -> np.ndarray:
    """``suffix * width + first`` in ``dtype``, computed in place in one array (the caller knows it fits)."""
    key = suffix.astype(dtype)
    key *= width
    key += first
    return key


def _finish_level(keys: np.ndarray, ctx: np.ndarray, count: np.ndarray, n_ctx: int, width: int) -> _Level:
    """Per-context totals and n1/n2/n3+ and the level's discounts, stored in the smallest dtypes that hold them."""
    coc = [int(np.count_nonzero(count == j)) for j in (1, 2, 3, 4)]
    d1, d2, d3 = kn_discounts(coc)
    total = np.bincount(ctx, weights=count, minlength=n_ctx)
    total = total.astype(_small_uint(int(total.max()) if total.size else 0))
    nj = np.empty((3, n_ctx), dtype=_small_uint(width))  # n_j(h) <= V + 1
    nj[0] = np.bincount(ctx[count == 1], minlength=n_ctx)
    nj[1] = np.bincount(ctx[count == 2], minlength=n_ctx)
    nj[2] = np.bincount(ctx[count >= 3], minlength=n_ctx)
    # every possible key (also of unseen k-grams looked up later) is below n_ctx * width
    return _Level(
        keys=keys.astype(np.int32 if n_ctx * width < 2**31 else np.int64, copy=False),
        count=count.astype(_small_uint(int(count.max()) if len(count) else 0)),
        total=total,
        nj=nj,
        discounts=np.array([0.0, d1, d2, d3]),
        width=width,
    )


# ---- notebook helper -------------------------------------------------------------------------------------


def order_sweep(train_text: str, eval_text: str, orders: Iterable[int]) -> list[dict[str, float]]:
    """Fit one model per order on ``train_text`` and score ``eval_text`` after it (``eval_text`` is taken to follow
    ``train_text``, as a validation split follows the training split); rows for a results table.

    Every order shares the vocabulary of ``train_text`` so losses are comparable; models are fitted
    independently, so ``fit_seconds`` is what that order alone costs.
    """
    vocab = sorted(set(train_text))
    rows: list[dict[str, float]] = []
    for order in orders:
        t0 = time.perf_counter()
        model = NGramModel.fit(train_text, order, vocab)
        t1 = time.perf_counter()
        loss = model.loss(eval_text, context=train_text)
        t2 = time.perf_counter()
        rows.append(
            {
                "order": order,
                "loss_nats": loss,
                "bits_per_char": nats_to_bits(loss),
                "fit_seconds": t1 - t0,
                "eval_seconds": t2 - t1,
            }
        )
        del model
    return rows


# ---- command line ----------------------------------------------------------------------------------------


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``charlm ngram`` (the main CLI attaches this to its subcommand)."""
    parser.add_argument("file", help="training text (UTF-8 unless --encoding)")
    parser.add_argument("--order", type=int, default=5, help=f"n-gram order n, 1..{MAX_ORDER}: context of n-1 chars")
    parser.add_argument(
        "--eval",
        metavar="FILE",
        default=None,
        help="held-out text, scored on its own; default: train on the first 90%% of FILE and score its val split "
             "(chars 90%%..95%%), each character after the text before it, as the notebooks do",
    )
    parser.add_argument("--sample", type=int, default=0, metavar="N", help="also print N sampled characters")
    parser.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (0 = argmax)")
    parser.add_argument("--seed", type=int, default=None, help="random seed for sampling")
    parser.add_argument("--encoding", default="utf-8", help="text encoding of FILE and --eval")
    parser.add_argument("--max-memory", type=float, default=None, metavar="GIB",
                        help="refuse a fit whose memory estimate exceeds this many GiB (default: the memory available)")


def run(args: argparse.Namespace) -> int:
    """Fit, report held-out loss, optionally sample; returns the exit status."""
    from charlm.data import split_ids
    from charlm.vocab import read_text

    _check_order(args.order)
    if args.max_memory is not None and not (math.isfinite(args.max_memory) and args.max_memory > 0):
        raise CharlmError(f"--max-memory {args.max_memory} must be a positive number of GiB")
    text = read_text(args.file, args.encoding)
    if args.eval is not None:
        train, held_out, context = text, read_text(args.eval, args.encoding), ""
    else:
        parts = split_ids(range(len(text)))  # the project's contiguous 0.90/0.05/0.05 split, as index ranges
        train = text[parts["train"].start : parts["train"].stop]
        held_out = text[parts["val"].start : parts["val"].stop]
        context = train  # the val split follows the training split: its first characters are predicted after it
        if not train or not held_out:
            raise CharlmError(
                f"{args.file} has only {len(text)} characters, too few for a 90/5/5 split; give more text or --eval FILE"
            )
    del text
    width = len(set(train)) + 1
    distinct = distinct_estimate(train, args.order)
    need = memory_estimate(len(train), args.order, width, distinct)
    given = args.max_memory is not None
    limit = int(args.max_memory * 2**30) if given else available_memory()
    limit_name = "allowed by --max-memory" if given else "of memory available"
    print(f"order {args.order} on {len(train):,} chars: needs {need}; "
          + (f"{_gib(limit)} {limit_name}" if limit is not None else "memory available unknown, not checked"),
          file=sys.stderr, flush=True)
    if limit is not None:
        check_memory(need, len(train), args.order, limit,
                     lambda k: memory_estimate(len(train), k, width, distinct[:k] if distinct else None), limit_name)
    t0 = time.perf_counter()
    model = NGramModel.fit(train, args.order, progress=True)
    fit_s = time.perf_counter() - t0
    loss = model.loss(held_out, context=context, progress=True)
    print(
        f"order {args.order}: held-out loss {loss:.4f} nats/char ({nats_to_bits(loss):.4f} bits/char) "
        f"on {len(held_out):,} chars; fit {fit_s:.1f} s"
    )
    if args.sample > 0:
        print(model.sample(args.sample, temperature=args.temperature, seed=args.seed))
    return 0
