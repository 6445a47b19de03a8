"""Word-level statistics of samples (notebook 08)."""

from __future__ import annotations

import pytest

from charlm.paper.sections import evolution

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
    sentence, row = evolution.story(rows)
    assert "From iteration 100 (204,800 characters seen) to 2000" in sentence
    assert row["verdict"] in ("held", "partly")
    assert row["stages"]["dictionary_share"] == 500 and "dictionary words at iteration 500" in sentence
    late = evolution.evolution_rows([(100, "xq zv")], TRAIN, TRAIN, 1, 1)
    assert "dictionary words not by iteration 100" in evolution.story(late)[0]


def test_story_without_samples_is_a_negative_result():
    rows = evolution.evolution_rows([], TRAIN, TRAIN, 1, 1)
    sentence, row = evolution.story(rows)
    assert row["verdict"] == "not" and "no samples" in sentence


def test_figure_draws_every_measure():
    rows = evolution.evolution_rows([(100, "ab cd"), (300, "the estates")], TRAIN, TRAIN, 2, 3)
    fig = evolution.evolution_figure(rows)
    assert len(fig.axes) == len(evolution.MEASURES)
    assert all(ax.lines for ax in fig.axes[:4])


def test_iteration_sentence_states_characters_seen():
    s = evolution.iteration_sentence(32, 32, [100, 2000])
    assert "32 x 32 = 1,024 characters" in s and "2,048,000 characters" in s and "0.41 times" in s
