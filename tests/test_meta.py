"""Section 11's measures on hand-made texts and on the post's own sample, and its rules at their thresholds."""

from __future__ import annotations

import pytest

from charlm.paper.claims import TOO_FEW
from charlm.paper.sections import meta
from helpers import mirror_text


def test_words_rnn_rate_and_repeated_pairs_on_hand_made_text():
    assert meta.words("I've the RNN, RNNs (RNN/LSTM) 2x") == ["I've", "the", "RNN", "RNNs", "RNN", "LSTM", "x"]
    assert meta.known_share(["a b c", "d"], {"a", "b"}) == (0.5, 4)
    assert meta.known_share([""], {"a"}) == (None, 0)
    assert meta.rnn_rate(["RNN RNNs", "no"]) == (1000 * 2 / 10, 10)
    # a b a b a b: pairs ab ba ab ba ab, the last three repeat earlier ones; texts do not share their pairs
    assert meta.repeated_pairs(["a b a b a b", "a b"]) == (3 / 6, 6)
    assert meta.repeated_pairs(["one"]) == (None, 0)


def test_the_posts_sample_measured_as_ours_are():
    post = mirror_text("rnn_effectiveness_post.markdown.xz")
    # word for word, its line break (after a trailing space) read as one space, as every quote is kept plain
    assert post.count(meta.POST_SAMPLE.text.replace("program of the RNN", "program of the \nRNN")) == 1
    m = meta.text_measures([meta.POST_SAMPLE.text], set(meta.words(post)))
    # 26 words, all of them the post's; 25 pairs, of which "the RNN", "RNN with", "with and" (twice each), "the
    # computed", "of the", "and the" come again: 9 repeats
    assert (m["words"], m["known_share"], m["pairs"], m["repeated_pairs"]) == (26, 1.0, 25, 9 / 25)
    assert m["rnn_per_1000"] == pytest.approx(1000 * 3 / len(meta.POST_SAMPLE.text))


def _data(known=0.96, rate=1.8, repeated=0.3, val=1.5, train=1.0, words=500, chars=5000):
    return {"samples": {"words": words, "known_share": known, "chars": chars, "rnn_per_1000": rate, "pairs": words - 5,
                        "repeated_pairs": repeated},
            "post_sample": {"words": 26, "known_share": 1.0, "chars": 126, "rnn_per_1000": 23.8, "pairs": 25,
                            "repeated_pairs": 0.36},
            "held_out": {"words": 400, "known_share": 0.74, "chars": 5000, "rnn_per_1000": 3.0, "pairs": 395,
                         "repeated_pairs": 0.1},
            "post_text": {"rnn_per_1000": 1.8, "chars": 53576},
            "fit": {"train_loss": train, "val_loss": val, "val_chars": 2679, "train_chars": 48218}}


def _verdicts(**values) -> list[str]:
    return [c.verdict for c in meta.claims(_data(**values))]


@pytest.mark.parametrize("known, verdict", [(1.0, "held"), (0.96, "held"), (0.9, "partly"), (0.86, "partly"),
                                            (0.84, "not")])
def test_typical_words_within_points_of_the_posts_sample(known, verdict):
    assert _verdicts(known=known)[0] == verdict


@pytest.mark.parametrize("rate, verdict", [(3.6, "held"), (1.8, "held"), (0.9, "partly"), (0.89, "not"), (0.0, "not")])
def test_rnn_as_often_as_the_post_writes_it(rate, verdict):
    assert _verdicts(rate=rate)[1] == verdict


@pytest.mark.parametrize("repeated, verdict", [(0.2, "held"), (0.19, "partly"), (0.1, "partly"), (0.09, "not")])
def test_repeating_more_than_held_out_text(repeated, verdict):
    assert _verdicts(repeated=repeated)[2] == verdict  # held-out text repeats 10% of its pairs


@pytest.mark.parametrize("val, verdict", [(1.25, "held"), (1.2, "partly"), (1.1, "partly"), (1.09, "not")])
def test_not_enough_data_when_held_out_loss_is_far_above_the_training_loss(val, verdict):
    claim = meta.claims(_data(val=val, train=1.0))[3]
    assert (claim.verdict, claim.value, claim.n) == (verdict, pytest.approx(val), 2679)


def test_too_few_words_or_characters_to_judge():
    typical, rnn, repeats, _ = meta.claims(_data(words=meta.MIN_WORDS - 1, chars=meta.MIN_CHARS - 1))
    for claim in (typical, rnn):
        assert claim.value is None and claim.verdict == TOO_FEW
    assert repeats.n == meta.MIN_WORDS - 6 and repeats.verdict == TOO_FEW
    enough = meta.claims(_data(words=meta.MIN_WORDS, chars=meta.MIN_CHARS))
    assert [c.verdict for c in enough[:2]] == ["held", "held"] and enough[0].n == meta.MIN_WORDS
