"""11 meta: an RNN trained on the post's own source, sampled at a low temperature, as the post's last paragraph does.

The post ends: "to add some **meta** to this post, I trained an RNN on the source file of this blog post", with a
two-line sample "generated with low temperature to get a more typical sample". Here the same text (the post's
Markdown source, as the blog's repository keeps it) and what can be measured of the samples, each beside the same
measure of the post's own sample and of the post's held-out text: how many of their words are words of the text
the model trained on, how often they say "RNN", how much they repeat themselves; and how much better the model
knows the characters it trained on than held-out ones ("not enough data to properly feed the RNN").
"""

from __future__ import annotations

import re
from typing import Any, Sequence

from charlm.analysis.display import Shown, side_by_side, table
from charlm.paper.claims import POST, TOO_FEW, Claim, Measured, Said, against_published, by_ratio, pct, ratio_rule
from charlm.paper.notebook import Corpus, reference_pieces
from charlm.run import RunResult

# --------------------------------------------------------------------------- what the post says, and the rules

_CONCLUSION = POST + "#conclusion"
NOT_ENOUGH_DATA = Said("at about 46K characters I haven't written enough data to properly feed the RNN", _CONCLUSION)
TYPICAL = Said("the returned sample (generated with low temperature to get a more typical sample)", _CONCLUSION)
ABOUT_RNN = Said("Yes, the post was about RNN and how well it works, so clearly this works :).", _CONCLUSION)
# The post's sample, measured as ours are; its line break is kept as a space, as every quote is kept plain (the
# measures count words and word pairs, which the break does not change).
POST_SAMPLE = Said("I've the RNN with and works, but the computed with program of the "
                   "RNN with and the computed of the RNN with with and the code", _CONCLUSION)

# Typical: held when the share of sampled words that are words of the training text is within TYPICAL_CLOSE
# (absolute) of the post's sample's share of words of the post, partly within TYPICAL_NEAR.
TYPICAL_CLOSE, TYPICAL_NEAR = 0.05, 0.15
# About RNN: "RNN" per 1,000 sampled characters, as a multiple of the post's own text's rate.
RNN_HELD, RNN_PARTLY = 1.0, 0.5
# Repeating: the share of word pairs that repeat an earlier pair of the same sample, as a multiple of held-out text's
# share in pieces of the same lengths (the post's sample repeats about 36% of its pairs).
REPEAT_HELD, REPEAT_PARTLY = 2.0, 1.0
# Not enough data: the held-out loss as a multiple of the loss on the training text, the same weights scoring both.
OVERFIT_HELD, OVERFIT_PARTLY = 1.25, 1.10
# Below these the verdict is too few to judge: sampled words (and word pairs), sampled characters for the RNN rate.
MIN_WORDS, MIN_CHARS = 100, 2000

_WORD = re.compile(r"[A-Za-z][A-Za-z']*")


# --------------------------------------------------------------------------- the samples beside the post's


def beside_the_posts(sample: str) -> Shown:
    """Our first sample cut to the post's sample's length, beside the post's."""
    return side_by_side({"ours": sample[:len(POST_SAMPLE.text)], "the post's": POST_SAMPLE.text},
                        "a sample of an RNN trained on the post, at a low temperature")


# --------------------------------------------------------------------------- measures of any text


def words(text: str) -> list[str]:
    """The words of a text: letters and apostrophes, as written (case kept: "RNN" is not "rnn")."""
    return _WORD.findall(text)


def known_share(texts: Sequence[str], vocabulary: set[str]) -> tuple[float | None, int]:
    """Share of the words of ``texts`` that are in ``vocabulary``, and how many words there were."""
    found = [w for t in texts for w in words(t)]
    return (sum(w in vocabulary for w in found) / len(found) if found else None), len(found)


def rnn_rate(texts: Sequence[str]) -> tuple[float | None, int]:
    """How often "RNN" is written (RNNs, RNN/LSTM count), per 1,000 characters, and how many characters."""
    chars = sum(len(t) for t in texts)
    return (1000 * sum(t.count("RNN") for t in texts) / chars if chars else None), chars


def repeated_pairs(texts: Sequence[str]) -> tuple[float | None, int]:
    """Share of word pairs (two consecutive words) that repeat an earlier pair of the same text, and how many pairs."""
    repeats = pairs = 0
    for t in texts:
        found = words(t)
        seen: set[tuple[str, str]] = set()
        for pair in zip(found, found[1:]):
            repeats += pair in seen
            seen.add(pair)
        pairs += max(0, len(found) - 1)
    return (repeats / pairs if pairs else None), pairs


def text_measures(texts: Sequence[str], vocabulary: set[str]) -> dict[str, Any]:
    share, n_words = known_share(texts, vocabulary)
    rate, chars = rnn_rate(texts)
    repeated, pairs = repeated_pairs(texts)
    return {"words": n_words, "known_share": share, "chars": chars, "rnn_per_1000": rate, "pairs": pairs,
            "repeated_pairs": repeated}


# --------------------------------------------------------------------------- the section's measurement


def measure(run: RunResult, corpus: Corpus, samples: Sequence[str]) -> Measured:
    """The samples, the post's sample and the post's held-out text under the same measures; the training text's
    loss beside the held-out loss; a claim for each."""
    train_text = corpus.split("train")
    held_out = corpus.split("val") + corpus.split("test")
    ours = text_measures(samples, set(words(train_text)))
    # The post's sample came from a model trained on the whole post: its words are judged against all of it.
    post_sample = text_measures([POST_SAMPLE.text], set(words(corpus.text)))
    real = text_measures(reference_pieces(held_out, samples), set(words(train_text)))
    post_text = {"rnn_per_1000": rnn_rate([corpus.text])[0], "chars": len(corpus.text)}
    train_loss = run.held_out_loss("train")  # scored as validation is, on the text it trained on
    fit = {"train_loss": train_loss, "val_loss": run.val_loss, "val_chars": len(corpus.split("val")),
           "train_chars": len(train_text)}
    data = {"samples": ours, "post_sample": post_sample, "held_out": real, "post_text": post_text, "fit": fit}
    rows = [{"text": f"our samples ({len(samples)})", **_row(ours)},
            {"text": "the post's sample", **_row(post_sample)},
            {"text": "the post's held-out text, same lengths", **_row(real)},
            {"text": "the whole post", "RNN per 1,000 characters": post_text["rnn_per_1000"]}]
    parts = [table(rows, "words of the text the model trained on, how often it says RNN, how much it repeats"),
             table([{"text": "training split", "characters": fit["train_chars"], "loss (nats/char)": train_loss},
                    {"text": "validation split", "characters": fit["val_chars"], "loss (nats/char)": run.val_loss}],
                   "the same weights on the characters they trained on and on held-out ones")]
    return Measured(parts, data, claims(data))


def _row(m: dict[str, Any]) -> dict[str, Any]:
    return {"words": m["words"], "words of the training text": m["known_share"],
            "RNN per 1,000 characters": m["rnn_per_1000"], "word pairs repeated": m["repeated_pairs"]}


def claims(data: dict[str, Any]) -> list[Claim]:
    """The four claims, each by its rule (the module's constants), from :func:`measure`'s numbers."""
    ours, post_sample, real, post_text, fit = (data[k] for k in ("samples", "post_sample", "held_out", "post_text",
                                                                 "fit"))
    close, near = 100 * TYPICAL_CLOSE, 100 * TYPICAL_NEAR
    sentence, typical = against_published(TYPICAL, "sampled words that are words of the training text",
                                          ours["known_share"], post_sample["known_share"], TYPICAL_CLOSE,
                                          TYPICAL_NEAR, ours["words"])
    typical_claim = _claim(TYPICAL, f"{sentence} Real held-out text of the post: {pct(real['known_share'])}.",
                           typical.verdict, f"held within {close:.0f} points of the post's sample's share of words of "
                           f"the text its model trained on, partly within {near:.0f}", typical.value,
                           ours["words"], MIN_WORDS, "words")

    rate, theirs = ours["rnn_per_1000"], post_text["rnn_per_1000"]
    rnn_claim = _claim(ABOUT_RNN, f"the samples write RNN {_num(rate)} times per 1,000 characters, the post's text "
                                  f"{_num(theirs)}, the post's sample {_num(post_sample['rnn_per_1000'])}",
                       by_ratio(rate, theirs, RNN_HELD, RNN_PARTLY),
                       f"held when the samples write RNN at least {RNN_HELD:g} x as often per character as the post "
                       f"does, partly when at least {RNN_PARTLY:g} x", _ratio(rate, theirs), ours["chars"],
                       MIN_CHARS, "characters")

    repeated, real_repeated = ours["repeated_pairs"], real["repeated_pairs"]
    repeat_claim = _claim(POST_SAMPLE, f"{pct(repeated)} of the samples' word pairs repeat an earlier pair; the post's "
                                       f"held-out text {pct(real_repeated)}, the post's sample "
                                       f"{pct(post_sample['repeated_pairs'])}",
                          by_ratio(repeated, real_repeated, REPEAT_HELD, REPEAT_PARTLY),
                          ratio_rule("the samples' share of repeated word pairs", REPEAT_HELD, REPEAT_PARTLY),
                          _ratio(repeated, real_repeated), ours["pairs"], MIN_WORDS, "word pairs")

    gap = _ratio(fit["val_loss"], fit["train_loss"])
    overfit_claim = Claim.of(
        NOT_ENOUGH_DATA, f"on the {fit['train_chars']:,} training characters the model's loss is "
        f"{fit['train_loss']:.3f} nats/char, on the {fit['val_chars']:,} held-out ones {fit['val_loss']:.3f} ({_num(gap, 2)} x)",
        "not" if gap is None else "held" if gap >= OVERFIT_HELD else "partly" if gap >= OVERFIT_PARTLY else "not",
        f"held when the held-out loss is at least {OVERFIT_HELD:g} x the training text's (the same weights, no "
        f"dropout), partly when at least {OVERFIT_PARTLY:g} x", gap, fit["val_chars"])
    return [typical_claim, rnn_claim, repeat_claim, overfit_claim]


def _claim(said: Said, ours: str, verdict: str, rule: str, value: float | None, n: int, minimum: int,
           of: str) -> Claim:
    """The claim by its rule, or too few to judge when the number rests on fewer than ``minimum`` (words, ...)."""
    rule += f"; too few to judge below {minimum:,} {of}"
    if n < minimum:
        return Claim.of(said, f"{n:,} {of}: {ours}", TOO_FEW, rule, None, n)
    return Claim.of(said, ours, verdict, rule, value, n)


def _ratio(ours: float | None, theirs: float | None) -> float | None:
    return None if ours is None or not theirs else ours / theirs


def _num(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"
