"""Tests of the Kneser-Ney character n-gram baseline (charlm.analysis.ngram)."""

from __future__ import annotations

import argparse
import lzma
import math
import os
import random
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from charlm.errors import CharlmError
from charlm.analysis import ngram
from charlm.analysis.ngram import NGramModel, configure_parser, nats_to_bits, order_sweep, run

SUBJECTS = ["the cat", "a dog", "my old friend", "the king", "her sister"]
VERBS = ["sat on", "looked at", "walked past", "spoke to", "dreamed of"]
OBJECTS = ["the mat", "a red door", "the river", "his horse", "the garden wall"]


def sentences(n: int, seed: int) -> str:
    """Structured English-like text: the n-gram structure a real corpus has, without committing a corpus."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        s = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}"
        out.append(s.capitalize() + rng.choice([". ", "! ", ".\n"]))
    return "".join(out)


# ---- brute-force reference: interpolated modified KN straight from the definitions, with dicts -----------------


def ref_discounts(counts: dict[str, int]) -> tuple[float, float, float]:
    n = [sum(1 for c in counts.values() if c == j) for j in (1, 2, 3, 4)]
    defaults = (0.5, 1.0, 1.5)
    y = n[0] / (n[0] + 2 * n[1]) if n[0] > 0 and n[1] > 0 else None
    out = []
    for j in (1, 2, 3):
        if y is None or n[j - 1] == 0 or n[j] == 0:
            d = defaults[j - 1]
        else:
            d = j - (j + 1) * y * n[j] / n[j - 1]
        out.append(min(max(d, 0.05), j))
    return out[0], out[1], out[2]


class ReferenceKN:
    def __init__(self, text: str, order: int, vocab: list[str]) -> None:
        self.order, self.width = order, len(vocab) + 1
        self.a: list[dict[str, int]] = [{}]
        self.d: list[tuple[float, float, float]] = [(0.0, 0.0, 0.0)]
        for k in range(1, order + 1):
            if k == order:
                counts = dict(Counter(text[i : i + k] for i in range(len(text) - k + 1)))
            else:  # continuation count: distinct left neighbours, text start counting as one
                left: dict[str, set[str]] = {}
                for i in range(len(text) - k + 1):
                    left.setdefault(text[i : i + k], set()).add(text[i - 1] if i > 0 else "<s>")
                counts = {g: len(s) for g, s in left.items()}
            self.a.append(counts)
            self.d.append(ref_discounts(counts))

    def prob(self, k: int, h: str, w: str) -> float:
        if k == 0:
            return 1.0 / self.width
        lower = self.prob(k - 1, h[1:], w)
        grams = {g: c for g, c in self.a[k].items() if g[:-1] == h}
        total = sum(grams.values())
        if total == 0:
            return lower
        d1, d2, d3 = self.d[k]
        disc = {1: d1, 2: d2}
        gamma = sum(disc.get(c, d3) for c in grams.values())
        c = grams.get(h + w, 0)
        return (max(c - disc.get(c, d3), 0.0) if c else 0.0) / total + gamma / total * lower

    def next_prob(self, context: str, w: str) -> float:
        h = context[max(0, len(context) - (self.order - 1)) :] if self.order > 1 else ""
        return self.prob(len(h) + 1, h, w)


def test_matches_brute_force_reference_to_1e9() -> None:
    text = sentences(12, seed=3)
    vocab = sorted(set(text)) + ["q"]  # 'q' is in the vocab but never seen
    for order in (1, 2, 4):
        model = NGramModel.fit(text, order, vocab)
        ref = ReferenceKN(text, order, vocab)
        contexts = ["", "T", "the ", "he cat s", "xyz", "a q", text[:40], "Her sis"]
        for ctx in contexts:
            got = model.prob_dist(ctx)
            want = [ref.next_prob(ctx, w) for w in vocab] + [ref.next_prob(ctx, "\x00")]  # \x00 = <unk>
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
        held_out = "The dog sat on the river wall! q" + "Ω"
        want_loss = -np.mean([math.log(ref.next_prob(held_out[:i], held_out[i])) for i in range(len(held_out))])
        assert model.loss(held_out) == pytest.approx(want_loss, abs=1e-9)


def test_distribution_sums_to_one_for_random_contexts() -> None:
    text = sentences(400, seed=1)
    rng = random.Random(0)
    for order in (1, 2, 3, 6, 12, 20):
        model = NGramModel.fit(text, order)
        assert len(model.prob_dist("")) == len(model.vocab) + 1
        for _ in range(25):
            start = rng.randrange(len(text) - 30)
            seen = text[start : start + rng.randrange(0, 30)]
            unseen = "".join(rng.choice(model.vocab + ["Ω", "#"]) for _ in range(rng.randrange(0, 25)))
            for ctx in (seen, unseen, seen + unseen, unseen + seen):
                p = model.prob_dist(ctx)
                assert np.all(p > 0)
                assert p.sum() == pytest.approx(1.0, abs=1e-12)


def test_unigram_loss_on_training_text_is_its_entropy() -> None:
    rng = np.random.default_rng(0)
    weights = rng.dirichlet(np.ones(30))
    text = "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz .,;"), size=200_000, p=weights))
    freq = np.array(list(Counter(text).values()), dtype=float) / len(text)
    entropy = float(-(freq * np.log(freq)).sum())
    assert NGramModel.fit(text, 1).loss(text) == pytest.approx(entropy, abs=1e-3)


def test_higher_orders_beat_unigram_on_held_out_structured_text() -> None:
    train, held_out = sentences(3000, seed=1), sentences(200, seed=2)
    losses = {order: NGramModel.fit(train, order).loss(held_out) for order in (1, 3, 6)}
    assert losses[3] < losses[1] - 0.5
    assert losses[6] < losses[3]


def test_unseen_character_gets_finite_loss() -> None:
    model = NGramModel.fit(sentences(100, seed=1), 5)
    loss = model.loss("The cat sat on the ☃ mat. Zebra 42!")
    assert math.isfinite(loss) and loss > 0
    assert 0 < model.prob_dist("the ")[-1] < 1e-3  # the <unk> bucket


def test_loss_agrees_with_prob_dist_and_uses_context_prefix() -> None:
    train = sentences(300, seed=1)
    model = NGramModel.fit(train, 4)
    index = {c: i for i, c in enumerate(model.vocab)}
    ctx, text = "The king w", "alked past the mat."
    manual = -np.mean([math.log(model.prob_dist(ctx + text[:i])[index[text[i]]]) for i in range(len(text))])
    assert model.loss(text, context=ctx) == pytest.approx(manual, abs=1e-12)
    assert model.bits_per_char(text, context=ctx) == pytest.approx(nats_to_bits(manual), abs=1e-12)
    assert model.loss(text) != pytest.approx(manual, abs=1e-6)  # without the prefix the first chars differ


def test_sampling_is_reproducible_with_seed() -> None:
    model = NGramModel.fit(sentences(300, seed=1), 5)
    a = model.sample(200, temperature=0.8, prime="The ", seed=7)
    assert a == model.sample(200, temperature=0.8, prime="The ", seed=7)
    assert a != model.sample(200, temperature=0.8, prime="The ", seed=8)
    assert len(a) == 200 and set(a) <= set(model.vocab)


def test_argmax_sampling_reproduces_a_deterministic_pattern() -> None:
    model = NGramModel.fit("abc" * 200, 3)
    assert model.sample(30, temperature=0, prime="ab") == "cab" * 10
    assert model.sample(6, temperature=0) == "abcabc"


def test_bad_arguments_raise_charlm_error() -> None:
    for order in (0, 21, -1):
        with pytest.raises(CharlmError, match="order"):
            NGramModel.fit("hello", order)
    with pytest.raises(CharlmError, match="empty"):
        NGramModel.fit("", 3)
    with pytest.raises(CharlmError, match="empty"):
        NGramModel.fit("hello", 3).loss("")
    with pytest.raises(CharlmError, match="temperature"):
        NGramModel.fit("hello", 3).sample(5, temperature=-1)


def test_order_above_text_length_still_normalised() -> None:
    model = NGramModel.fit("abc", 10)
    assert model.ngram_counts == [3, 2, 1] + [0] * 7
    assert model.prob_dist("abc").sum() == pytest.approx(1.0, abs=1e-12)
    assert math.isfinite(model.loss("abcabd"))


def test_order_sweep_rows() -> None:
    train, held_out = sentences(500, seed=1), sentences(50, seed=2)
    rows = order_sweep(train, held_out, [1, 3])
    assert [r["order"] for r in rows] == [1, 3]
    assert set(rows[0]) == {"order", "loss_nats", "bits_per_char", "fit_seconds", "eval_seconds"}
    assert rows[1]["loss_nats"] < rows[0]["loss_nats"]
    assert rows[0]["bits_per_char"] == pytest.approx(nats_to_bits(rows[0]["loss_nats"]))
    # the one scoring definition: the held-out text is predicted after the training text that precedes it
    model = NGramModel.fit(train, 3, sorted(set(train)))
    assert rows[1]["loss_nats"] == pytest.approx(model.loss(held_out, context=train), abs=1e-12)
    assert rows[1]["loss_nats"] != pytest.approx(model.loss(held_out), abs=1e-9)


def test_run_prints_held_out_loss(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = tmp_path / "corpus.txt"
    file.write_text(sentences(400, seed=1), encoding="utf-8")
    parser = argparse.ArgumentParser()
    configure_parser(parser)
    assert run(parser.parse_args([str(file), "--order", "4", "--sample", "50", "--seed", "1"])) == 0
    lines = capsys.readouterr().out.splitlines()
    held_out = len(file.read_text(encoding="utf-8")) // 20
    pattern = r"order 4: held-out loss (\d+\.\d{4}) nats/char \((\d+\.\d{4}) bits/char\) on ([\d,]+) chars; fit \d+\.\d s"
    match = re.fullmatch(pattern, lines[0])
    assert match, lines[0]
    assert abs(int(match.group(3).replace(",", "")) - held_out) <= 1
    # scored as the notebooks score: the val split after the training split that precedes it
    text = file.read_text(encoding="utf-8")
    n = len(text)
    train, val = text[: round(n * 0.9)], text[round(n * 0.9) : round(n * 0.9) + round(n * 0.05)]
    want = NGramModel.fit(train, 4).loss(val, context=train)
    assert float(match.group(1)) == pytest.approx(want, abs=5e-5) and want != pytest.approx(NGramModel.fit(train, 4).loss(val), abs=1e-4)
    assert float(match.group(2)) == pytest.approx(nats_to_bits(float(match.group(1))), abs=2e-4)
    assert len("\n".join(lines[1:])) >= 40  # the sample (may contain newlines)

    eval_file = tmp_path / "held_out.txt"
    eval_file.write_text("The cat sat on the mat. ", encoding="utf-8")
    assert run(parser.parse_args([str(file), "--order", "2", "--eval", str(eval_file)])) == 0
    assert "on 24 chars" in capsys.readouterr().out


def test_run_rejects_bad_order(tmp_path: Path) -> None:
    file = tmp_path / "corpus.txt"
    file.write_text(sentences(50, seed=1), encoding="utf-8")
    parser = argparse.ArgumentParser()
    configure_parser(parser)
    with pytest.raises(CharlmError, match="order"):
        run(parser.parse_args([str(file), "--order", "25"]))


@pytest.mark.skipif(
    not (Path(os.environ.get("CHARLM_DATA_MIRROR", "/nonexistent")) / "tinyshakespeare.txt.xz").exists(),
    reason="set CHARLM_DATA_MIRROR to a folder holding tinyshakespeare.txt.xz",
)
def test_tiny_shakespeare_order_5_beats_unigram() -> None:
    with lzma.open(Path(os.environ["CHARLM_DATA_MIRROR"]) / "tinyshakespeare.txt.xz", "rt", encoding="utf-8") as f:
        text = f.read()
    n = len(text)
    train, val = text[: int(n * 0.9)], text[int(n * 0.9) : int(n * 0.95)]
    rows = order_sweep(train, val, [1, 5])
    assert rows[0]["loss_nats"] > 3.0  # unigram entropy of Shakespeare is about 3.3 nats
    assert rows[1]["loss_nats"] < 1.8


# ---- scoring pieces, each after its own context ----------------------------------------------------------


def test_loss_pieces_matches_brute_force_reference() -> None:
    text = sentences(15, seed=4)
    vocab = sorted(set(text))
    pieces = [  # (context, text): no context, a short one, a long one, unseen characters on both sides
        ("", "The cat sat on the mat. "),
        ("a", "dog spoke to her sister!"),
        ("he ", "cat sat. "),  # shorter than order-1 but more than half of it
        ("My old friend walked past the river. The k", "ing dreamed of a red door."),
        ("Ω# q", "x the garden wall Ω"),
    ]
    for order in (1, 2, 5):
        model, ref = NGramModel.fit(text, order, vocab), ReferenceKN(text, order, vocab)

        def p(context: str, w: str) -> float:
            return ref.next_prob(context, w if w in vocab else "\x00")  # \x00 = <unk>

        nll = [-math.log(p(ctx + piece[:i], piece[i])) for ctx, piece in pieces for i in range(len(piece))]
        want = sum(nll) / sum(len(piece) for _, piece in pieces)  # weighted by characters, not a mean of means
        assert model.loss_pieces(pieces) == pytest.approx(want, abs=1e-9)
        assert model.loss_pieces(pieces[2:3]) == pytest.approx(model.loss(pieces[2][1], context=pieces[2][0]), abs=1e-12)
        assert model.loss_pieces([("", ""), *pieces]) == pytest.approx(want, abs=1e-9)  # an empty piece adds nothing
    with pytest.raises(CharlmError, match="empty"):
        model.loss_pieces([("abc", "")])


def test_long_pieces_are_scored_across_chunk_boundaries(monkeypatch: pytest.MonkeyPatch) -> None:
    train, held_out = sentences(300, seed=1), sentences(30, seed=2)
    model = NGramModel.fit(train, 6)
    whole = model.loss(held_out, context=train)
    monkeypatch.setattr(ngram, "SCORE_CHUNK", 37)  # many chunks, each overlapping the order-1 before it
    assert model.loss(held_out, context=train) == pytest.approx(whole, abs=1e-12)
    assert model.loss_pieces([(train, held_out[:500]), (train + held_out[:500], held_out[500:])]) == pytest.approx(whole, abs=1e-12)


# ---- memory: estimated before fitting, refused in one line ------------------------------------------------


def traced_peak(fit) -> tuple[int, NGramModel]:
    """Peak bytes numpy allocated while ``fit()`` ran (numpy reports its buffers to tracemalloc): exact, not RSS."""
    import tracemalloc

    tracemalloc.start()
    try:
        model = fit()
        return tracemalloc.get_traced_memory()[1], model
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("kind", ["sentences", "noise", "repeated"])
def test_memory_estimate_bounds_what_fitting_allocates(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(0)
    text = {"sentences": sentences(6000, seed=5),
            "noise": "".join(rng.choice("abcdefghij klmnopqrstuvwxyz.,\n") for _ in range(150_000)),
            "repeated": "the same line again\n" * 7000}[kind]
    monkeypatch.setattr(ngram, "SAMPLE_CHARS", 1 << 14)  # so the sampled estimate is used at this size too
    for order in (1, 4, 12, 20):
        width = len(set(text)) + 1
        sampled = ngram.estimate_memory(text, order, width)
        bound = ngram.memory_estimate(len(text), order, width)
        peak, model = traced_peak(lambda: NGramModel.fit(text, order))
        assert peak <= sampled.total <= bound.total, (order, peak, sampled, bound)
        assert model.nbytes <= sampled.tables <= bound.tables
        assert ngram.distinct_estimate(text, order) is not None


def test_fit_refuses_what_does_not_fit_in_one_line() -> None:
    text = sentences(2000, seed=1)
    need = ngram.memory_estimate(len(text), 20, len(set(text)) + 1)
    with pytest.raises(CharlmError) as err:
        NGramModel.fit(text, 20, max_bytes=need.total - 1)
    message = str(err.value)
    match = re.search(r"lower the order \(order (\d+) needs at most", message)
    assert "\n" not in message and message.startswith(f"an order-20 n-gram model of {len(text):,} characters") and match
    fitting = int(match.group(1))
    assert ngram.memory_estimate(len(text), fitting, len(set(text)) + 1).total <= need.total - 1
    assert ngram.memory_estimate(len(text), fitting + 1, len(set(text)) + 1).total > need.total - 1
    assert NGramModel.fit(text, 20, max_bytes=need.total).order == 20
    available = ngram.available_memory()
    assert available is None or available > 0


def test_cli_reports_the_estimate_and_refuses_before_counting(tmp_path: Path) -> None:
    import subprocess
    import sys
    import time

    file = tmp_path / "corpus.txt"
    file.write_text(sentences(3000, seed=1), encoding="utf-8")
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "charlm", "ngram", str(file), "--order", "20", "--max-memory", "0.001"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and done.stdout == ""
    estimate, error = done.stderr.splitlines()
    assert re.fullmatch(r"order 20 on [\d,]+ chars: needs at most \d+ MiB \(counting \d+ MiB, tables \d+ MiB\); "
                        r"1 MiB allowed by --max-memory", estimate), estimate
    assert error.startswith("error: an order-20 n-gram model of") and "allowed by --max-memory" in error
    ok = subprocess.run([sys.executable, "-m", "charlm", "ngram", str(file), "--order", "3"], capture_output=True,
                        text=True, timeout=120)
    assert ok.returncode == 0 and re.match(r"order 3 on [\d,]+ chars: needs at most .* available", ok.stderr), ok.stderr
    assert ok.stdout.startswith("order 3: held-out loss")


def test_progress_bars_on_large_inputs(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    text = sentences(400, seed=1)
    NGramModel.fit(text, 3, progress=True).loss(text[:2000], progress=True)
    assert capsys.readouterr().err == ""  # small: no bars
    monkeypatch.setattr(ngram, "PROGRESS_MIN_CHARS", 1000)
    model = NGramModel.fit(text, 3, progress=True)
    model.loss(text[:2000], context=text, progress=True)
    err = capsys.readouterr().err
    assert f"counting {len(text):,} chars" in err and "3/3" in err and "distinct 3-grams" in err
    assert "scoring" in err and "2.00k/2.00k" in err
