"""Word-level statistics of samples (notebook 08)."""

from __future__ import annotations

import re

import pytest

from charlm.paper.sections import evolution

def _numbers(sentence: str) -> list[float]:
    """The numbers a sentence states, in order (thousands separators dropped)."""
    return [float(n) for n in re.findall(r"\d+(?:\.\d+)?", sentence.replace(",", ""))]


TRAIN = "“Well, Prince, so Genoa and Lucca are now just family estates.” He spoke."


def test_word_stats_counts_real_numbers():
    known = evolution.dictionary(TRAIN)
    stats = evolution.word_stats("Well,  so xqzt Prince", known)
    assert stats.words == 4 and stats.dictionary_share == pytest.approx(3 / 4)
    assert stats.mean_word_length == pytest.approx((4 + 2 + 4 + 6) / 4)
    assert stats.space_share == pytest.approx(4 / 21)
    assert stats.punctuation_share == pytest.approx(1 / 21)
    assert stats.double_spaces == pytest.approx(100 / 21)
    assert stats.quote_balance is None


@pytest.mark.parametrize("text, share", [("“a” “b”", 1.0), ("“a “b”", 2 / 3), ("a” b", 0.0), ('"a" "b', 2 / 3)])
def test_quote_balance(text, share):
    assert evolution.quote_balance(text) == pytest.approx(share)


def test_evolution_rows_and_story_order():
    samples = [(100, "tyntd iafh  atawi oihr"), (500, "He spoke so, Genoa"), (2000, "“Well, Prince,” he spoke.")]
    rows = evolution.evolution_rows(samples, TRAIN, reference=TRAIN, batch_size=32, seq_length=64)
    assert [r["iteration"] for r in rows] == [100, 500, 2000, None]
    assert rows[0]["chars_seen"] == 100 * 32 * 64
    assert rows[0]["dictionary_share"] == 0.0 and rows[2]["dictionary_share"] == 1.0
    # real text: 12 spaces in 73 characters; 4 in 22 at iteration 100 is within 20% of it, so spaces come first,
    # dictionary words at 500 (all four words are in TRAIN), paired quotes only at 2000: the post's order
    assert rows[0]["space_share"] == pytest.approx(4 / 22) and rows[-1]["space_share"] == pytest.approx(12 / 73)
    assert evolution.stages(rows) == {"space_share": 100, "dictionary_share": 500, "mean_word_length": 100,
                                      "quote_balance": 2000}
    sentence, claim = evolution.story(rows)
    assert (claim.verdict, claim.value, claim.n) == ("held", 4, 3)  # all four stages arrived, in order, 3 samples
    assert _numbers(sentence)[:4] == [100, 100 * 32 * 64, 2000, 2000 * 32 * 64]  # first and last, characters seen
    # 1 space in 5 characters is more than 20% off real text's 12/73, and "xq", "zv" are no words: nothing arrives
    late = evolution.evolution_rows([(100, "xq zv")], TRAIN, TRAIN, 1, 1)
    assert evolution.stages(late) == {"space_share": None, "dictionary_share": None, "mean_word_length": None,
                                      "quote_balance": None}
    assert evolution.story(late)[1].verdict == "not"
    # spaces arrive (2 in 11 characters), words and quotes never do: partly
    spaces_only = evolution.evolution_rows([(100, "xq zvw yqzk")], TRAIN, TRAIN, 1, 1)  # 2 spaces in 11
    assert evolution.stages(spaces_only)["space_share"] == 100 and evolution.story(spaces_only)[1].verdict == "partly"


def test_story_without_samples_is_a_negative_result():
    rows = evolution.evolution_rows([], TRAIN, TRAIN, 1, 1)
    claim = evolution.story(rows)[1]
    assert (claim.verdict, claim.value, claim.n) == ("not", None, 0)


def test_figure_draws_every_measure():
    rows = evolution.evolution_rows([(100, "ab cd"), (300, "the estates")], TRAIN, TRAIN, 2, 3)
    fig = evolution.evolution_figure(rows)
    assert len(fig.axes) == len(evolution.MEASURES)
    assert all(ax.lines for ax in fig.axes[:4])


def test_iteration_sentence_states_characters_seen():
    s = evolution.iteration_sentence(32, 32, [100, 2000])
    batch, seq = evolution.CHAR_RNN_BATCH, evolution.CHAR_RNN_SEQ
    # ours per iteration, char-rnn's, characters by the last iteration, and the ratio of the two iterations
    assert _numbers(s) == [32, 32, 1024, batch, seq, batch * seq, 2000, 2000 * 1024, round(1024 / (batch * seq), 2)]
