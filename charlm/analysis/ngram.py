"""Character n-gram language model: the counting baseline the char-RNN has to beat.

A plain character n-gram counter already writes passable text, so it is the yardstick a character model's loss
is read against: how far below a high-order n-gram the model's loss goes on the same split is the gap worth
measuring.

Smoothing: interpolated *modified* Kneser-Ney (Chen & Goodman 1998), the smoothing of the published n-gram
baselines and the best-performing classic count smoother. For order ``n`` and a context ``h``::

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
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from charlm.errors import CharlmError
from charlm.analysis.textstats import bits as nats_to_bits  # the project's one nats -> bits conversion, under its old name here

MAX_ORDER = 20
MIN_DISCOUNT = 0.05  # keeps the back-off mass positive, so unseen characters never get probability 0
DEFAULT_DISCOUNTS = (0.5, 1.0, 1.5)  # Chen & Goodman's typical D1, D2, D3+, used when counts cannot estimate them
UNK = "<unk>"


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


def _codepoints(text: str) -> np.ndarray:
    """(len(text),) uint32 Unicode code points, without a Python-level loop."""
    return np.frombuffer(text.encode("utf-32-le", errors="surrogatepass"), dtype=np.uint32)


def _group(key: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sort-based counting: (sorted distinct keys, inverse ids per element, one representative index per key).

    One quicksort argsort; cheaper than np.unique(return_index=True), which needs a stable sort.
    """
    perm = np.argsort(key)
    sorted_keys = key[perm]
    new = np.empty(len(key), dtype=bool)
    new[:1] = True
    np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=new[1:])
    ids_sorted = np.cumsum(new) - 1
    inverse = np.empty(len(key), dtype=np.int64)
    inverse[perm] = ids_sorted
    return sorted_keys[new], inverse, perm[new]


def _small_uint(max_value: int) -> type:
    return np.uint16 if max_value < 2**16 else np.uint32


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
        self._sort = np.argsort(points)  # vocab index of the i-th smallest code point
        self._sorted_points = points[self._sort]

    # ---- construction -------------------------------------------------------------------------------------

    @classmethod
    def fit(cls, text: str, order: int, vocab: Sequence[str] | None = None) -> "NGramModel":
        """Count all 1..order-grams of ``text`` and compute the KN tables.

        ``vocab`` defaults to the sorted distinct characters of ``text``; characters of ``text`` outside a given
        vocab are counted as ``<unk>``.
        """
        _check_order(order)
        if not text:
            raise CharlmError("cannot fit an n-gram model on empty text; give a non-empty training text")
        vocab_list = sorted(set(text)) if vocab is None else list(vocab)
        if not vocab_list or any(len(c) != 1 for c in vocab_list) or len(set(vocab_list)) != len(vocab_list):
            raise CharlmError("vocab must be a non-empty sequence of distinct single characters; pass vocab=None to infer it")
        model = cls(order, vocab_list, [])
        model._levels = _build_levels(model._encode(text), order, len(vocab_list) + 1)
        return model

    def _encode(self, text: str) -> np.ndarray:
        """(len(text),) int64 symbol ids: vocab index, or V for characters outside the vocabulary (<unk>)."""
        points = _codepoints(text)
        pos = np.searchsorted(self._sorted_points, points)
        pos = np.minimum(pos, len(self._sorted_points) - 1)
        known = self._sorted_points[pos] == points
        return np.where(known, self._sort[pos], len(self.vocab)).astype(np.int64)

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

    def loss(self, text: str, context: str = "") -> float:
        """Mean negative log-likelihood in nats/char of ``text``.

        Each character is predicted from the previous order-1 characters of ``context + text``; without a
        ``context`` the first characters of ``text`` use the shorter contexts available.
        """
        if not text:
            raise CharlmError("cannot score empty text; give a non-empty held-out text")
        prefix = context[max(0, len(context) - (self.order - 1)) :] if self.order > 1 else ""
        codes = self._encode(prefix + text)
        total = 0.0
        chunk = 1 << 18  # bounds the temporary arrays for long texts; chunks overlap by order-1 chars
        for begin in range(len(prefix), len(codes), chunk):
            lo = max(0, begin - (self.order - 1))
            probs = self._probs_of_sequence(codes[lo : begin + chunk], begin - lo)
            total -= float(np.log(probs).sum())
        return total / len(text)

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


def _build_levels(codes: np.ndarray, order: int, width: int) -> list[_Level]:
    """Count 1..order-grams of ``codes`` (symbol ids < width) into KN tables, one sort per order.

    Level k's continuation counts need the distinct (k+1)-grams, so each level is finished one step late.
    """
    n = len(codes)
    levels: list[_Level] = []
    prev = np.zeros(n, dtype=np.int64)  # ids of the (k-1)-grams ending at each position; order 0: all 0
    n_prev_types = 1
    pending: tuple[np.ndarray, np.ndarray, np.ndarray, int] | None = None  # (keys, ctx, raw_count, n_ctx)
    for k in range(1, order + 1):
        if n < k:
            keys = np.zeros(0, dtype=np.int64)
            ctx = np.zeros(0, dtype=np.int64)
            raw = np.zeros(0, dtype=np.int64)
            gram = np.full(n, -1, dtype=np.int64)
        else:
            # k-gram ending at i = char[i-k+1] prepended to the (k-1)-gram ending at i
            key = prev[k - 1 :] * width + codes[: n - k + 1]
            if n_prev_types * width < 2**31:
                key = key.astype(np.int32)  # sorts ~1.5x faster than int64
            keys, inverse, rep = _group(key)
            keys = keys.astype(np.int64)
            raw = np.bincount(inverse, minlength=len(keys))
            rep += k - 1  # a position where each distinct k-gram ends
            # its context is the (k-1)-gram ending one position earlier (order 1: the empty context, id 0)
            ctx = np.zeros(len(keys), dtype=np.int64) if k == 1 else prev[rep - 1]
            gram = np.full(n, -1, dtype=np.int64)
            gram[k - 1 :] = inverse
        if pending is not None:
            p_keys, p_ctx, _, p_nctx = pending
            # continuation count: distinct left extensions, plus one for the k-1-gram at the very start
            cont = np.bincount(keys // width, minlength=len(p_keys)) if len(keys) else np.zeros(len(p_keys), np.int64)
            if n >= k - 1:
                cont[prev[k - 2]] += 1
            levels.append(_finish_level(p_keys, p_ctx, cont, p_nctx, width))
        pending = (keys, ctx, raw, n_prev_types)
        n_prev_types = len(keys)
        prev = gram
    assert pending is not None
    levels.append(_finish_level(pending[0], pending[1], pending[2], pending[3], width))
    return levels


def _finish_level(keys: np.ndarray, ctx: np.ndarray, count: np.ndarray, n_ctx: int, width: int) -> _Level:
    """Per-context totals and n1/n2/n3+ and the level's discounts, stored in compact dtypes."""
    coc = [int(np.count_nonzero(count == j)) for j in (1, 2, 3, 4)]
    d1, d2, d3 = kn_discounts(coc)
    total = np.bincount(ctx, weights=count, minlength=n_ctx)
    nj = np.empty((3, n_ctx), dtype=_small_uint(width))  # n_j(h) <= V + 1
    nj[0] = np.bincount(ctx[count == 1], minlength=n_ctx)
    nj[1] = np.bincount(ctx[count == 2], minlength=n_ctx)
    nj[2] = np.bincount(ctx[count >= 3], minlength=n_ctx)
    # every possible key (also of unseen k-grams looked up later) is below n_ctx * width
    return _Level(
        keys=keys.astype(np.int32 if n_ctx * width < 2**31 else np.int64),
        count=count.astype(_small_uint(int(count.max()) if len(count) else 0)),
        total=total.astype(np.int64 if total.size and total.max() >= 2**31 else np.int32),
        nj=nj,
        discounts=np.array([0.0, d1, d2, d3]),
        width=width,
    )


# ---- notebook helper -------------------------------------------------------------------------------------


def order_sweep(train_text: str, eval_text: str, orders: Iterable[int]) -> list[dict[str, float]]:
    """Fit one model per order on ``train_text`` and score ``eval_text``; rows for a results table.

    Every order shares the vocabulary of ``train_text`` so losses are comparable; models are fitted
    independently, so ``fit_seconds`` is what that order alone costs.
    """
    vocab = sorted(set(train_text))
    rows: list[dict[str, float]] = []
    for order in orders:
        t0 = time.perf_counter()
        model = NGramModel.fit(train_text, order, vocab)
        t1 = time.perf_counter()
        loss = model.loss(eval_text)
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
        help="held-out text; default: train on the first 90%% of FILE, score its val split (chars 90%%..95%%)",
    )
    parser.add_argument("--sample", type=int, default=0, metavar="N", help="also print N sampled characters")
    parser.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (0 = argmax)")
    parser.add_argument("--seed", type=int, default=None, help="random seed for sampling")
    parser.add_argument("--encoding", default="utf-8", help="text encoding of FILE and --eval")


def run(args: argparse.Namespace) -> int:
    """Fit, report held-out loss, optionally sample; returns the exit status."""
    from charlm.data import split_ids
    from charlm.vocab import read_text

    _check_order(args.order)
    text = read_text(args.file, args.encoding)
    if args.eval is not None:
        train, held_out = text, read_text(args.eval, args.encoding)
    else:
        parts = split_ids(range(len(text)))  # the project's contiguous 0.90/0.05/0.05 split, as index ranges
        train = text[parts["train"].start : parts["train"].stop]
        held_out = text[parts["val"].start : parts["val"].stop]
        if not train or not held_out:
            raise CharlmError(
                f"{args.file} has only {len(text)} characters, too few for a 90/5/5 split; give more text or --eval FILE"
            )
    t0 = time.perf_counter()
    model = NGramModel.fit(train, args.order)
    fit_s = time.perf_counter() - t0
    loss = model.loss(held_out)
    print(
        f"order {args.order}: held-out loss {loss:.4f} nats/char ({nats_to_bits(loss):.4f} bits/char) "
        f"on {len(held_out):,} chars; fit {fit_s:.1f} s"
    )
    if args.sample > 0:
        print(model.sample(args.sample, temperature=args.temperature, seed=args.seed))
    return 0
