"""Word-level statistics of samples (notebook 08)."""

from __future__ import annotations

import re

import pytest

from charlm.paper.claims import TOO_FEW
from charlm.paper.sections import evolution

def _numbers(sentence: str) -> list[float]:
    """The numbers a sentence states, in order (thousands separators dropped)."""
    return [float(n) for n in re.findall(r"\d+(?:\.\d+)?", sentence.replace(",", ""))]


TRAIN = "“Well, Prince, so Genoa and Lucca are now just family estates.” He spoke."


def test_word_stats_counts_real_numbers():
    known = evolution.dictionary(TRAIN)
    stats = evolution.word_stats("Well,  so xqzt Prince. “He", known)
    assert stats.words == 5 and stats.dictionary_share == pytest.approx(4 / 5)
    assert stats.mean_word_length == pytest.approx((4 + 2 + 4 + 6 + 2) / 5)
    assert stats.space_share == pytest.approx(5 / 26) and stats.double_spaces == pytest.approx(100 / 26)
    assert stats.punctuation_share == pytest.approx(3 / 26)  # , . “
    assert (stats.quote_marks, stats.quote_rate, stats.period_rate) == (1, pytest.approx(1000 / 26),
                                                                         pytest.approx(1000 / 26))
    assert stats.quote_balance == 0.0  # one opening mark, never closed
    # "so" and "He" are short (at most SHORT letters), "Prince" long (at least LONG); "xqzt" is no word
    assert (stats.short_words, stats.short_dictionary_share) == (2, 1.0)
    assert (stats.long_words, stats.long_dictionary_share) == (1, 1.0)
    assert stats.spelled_word_length == pytest.approx((4 + 2 + 6 + 2) / 4)


@pytest.mark.parametrize("text, share", [("“a” “b”", 1.0), ("“a “b”", 2 / 3), ("a” b", 0.0), ('"a" "b', 2 / 3)])
def test_quote_balance(text, share):
    assert evolution.quote_balance(text) == pytest.approx(share)


def test_evolution_rows_and_the_order_of_the_stages():
    samples = [(100, "tyntd iafh  atawi oihr"), (500, "He spoke so, Genoa xqztwv"), (2000, "“Well, Prince,” he spoke.")]
    rows = evolution.evolution_rows(samples, TRAIN, reference=TRAIN, batch_size=32, seq_length=64)
    assert [r["iteration"] for r in rows] == [100, 500, 2000, None]
    assert rows[0]["chars_seen"] == 100 * 32 * 64
    assert rows[0]["dictionary_share"] == 0.0 and rows[2]["dictionary_share"] == 1.0
    # real text: 12 spaces in 73 characters; 4 in 22 at iteration 100 is within 20% of it, so spaces come first;
    # short words ("He", "so") spelled at 500, long ones ("Prince") only at 2000, where the quotes pair too
    assert rows[0]["space_share"] == pytest.approx(4 / 22) and rows[-1]["space_share"] == pytest.approx(12 / 73)
    assert rows[1]["long_dictionary_share"] == 0.0 and rows[2]["long_dictionary_share"] == 1.0
    assert evolution.stages(rows) == {"space_share": 100, "short_dictionary_share": 500,
                                      "long_dictionary_share": 2000, "quote_balance": 2000}
    sentence, claim = evolution.story(rows)
    assert (claim.verdict, claim.value, claim.n) == ("held", 3, 3)  # all three stages arrived, in order, 3 samples
    assert _numbers(sentence)[:4] == [100, 100 * 32 * 64, 2000, 2000 * 32 * 64]  # first and last, characters seen
    # each stage's own claim rests on too little here (a few words, no 1,000 characters): too few to judge
    assert {c.verdict for c in evolution.claims(rows)[:-1]} == {TOO_FEW}
    assert evolution.verdicts(rows).claims == evolution.claims(rows)


def test_story_without_samples_is_too_few_to_judge():
    rows = evolution.evolution_rows([], TRAIN, TRAIN, 1, 1)
    claim = evolution.story(rows)[1]
    assert (claim.verdict, claim.value, claim.n) == (TOO_FEW, None, 0)


def test_figure_draws_every_measure():
    rows = evolution.evolution_rows([(100, "ab cd"), (300, "the estates")], TRAIN, TRAIN, 2, 3)
    fig = evolution.evolution_figure(rows)
    assert len(fig.axes) == len(evolution.MEASURES)
    assert all(ax.lines for ax in fig.axes[:3])


def test_iteration_sentence_states_characters_seen():
    s = evolution.iteration_sentence(32, 32, [100, 2000])
    batch, seq = evolution.CHAR_RNN_BATCH, evolution.CHAR_RNN_SEQ
    # ours per iteration, char-rnn's, characters by the last iteration, and the ratio of the two iterations
    assert _numbers(s) == [32, 32, 1024, batch, seq, batch * seq, 2000, 2000 * 1024, round(1024 / (batch * seq), 2)]
