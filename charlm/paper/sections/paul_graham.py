"""02 Paul Graham generator: temperature, from a greedy loop to invented words.

The post samples its essay model at several temperatures: low ones repeat themselves, high ones invent words.
Here the same seed at each temperature side by side, the greedy (temperature 0) sample and the cycle it falls
into, and two measures against temperature, each beside held-out text: the share of invented words (not in
the training text) and the share of distinct word n-grams (repetition).
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

import numpy as np

from charlm.analysis.display import Shown, esc, pre, show_figure, side_by_side, table
from charlm.paper.claims import POST, Claim, Measured, Said, enough, pct, rule
from charlm.paper.notebook import Corpus, generate, reference_pieces
from charlm.run import RunResult

# --------------------------------------------------------------------------- what the post says, and the rules

# "approximately 1MB text file, or about 1 million characters"
POST_CHARS = 1_000_000

LOOP = Said("looks like we've reached an infinite loop about startups.", POST + "#paul-graham-generator")
LOOP_REPEATS = 3  # a greedy sample has looped when it ends in a cycle repeated at least this many times
# A greedy sample shorter than this could end before a loop shows itself.
LOOP_MIN_CHARS = 200

TEMPERATURE = Said("Decreasing the temperature from 1 to some lower number (e.g. 0.5) makes the RNN more confident, "
                   "but also more conservative in its samples. Conversely, higher temperatures will give more "
                   "diversity but at cost of more mistakes (e.g. spelling mistakes, etc).",
                   POST + "#paul-graham-generator")
# Each end of the sweep (the lowest and the highest temperature) is judged on at least this many sampled words.
TEMPERATURE_MIN_WORDS = 100
TEMPERATURE_RULE = rule("from the lowest temperature to the highest both invented words and distinct word n-grams "
                        "rise, the lowest repeats itself more than real text (fewer distinct n-grams) and the "
                        "highest invents more words than real text",
                        "one end does what the post says (the lowest repeats more than real text, or the highest "
                        "invents more words)", TEMPERATURE_MIN_WORDS, "words at either end")

# --------------------------------------------------------------------------- the sweep and the greedy loop


def temperature_sweep(run: RunResult, temperatures: Sequence[float], length: int = 300, prime: str = "",
                      seed: int = 0) -> Shown:
    """The same seed at each temperature, side by side."""
    columns = {f"T = {t:g}": generate(run, 1, length, t, prime, seed)[0] for t in temperatures}
    return side_by_side(columns, f"temperature sweep, {length} characters each, seed {seed}")


def argmax_loop(run: RunResult, length: int = 600, prime: str = "") -> Shown:
    """Temperature near zero: always the likeliest character, which sooner or later repeats itself forever."""
    text = generate(run, 1, length, 0.0, prime)[0]
    loop = find_loop(text, LOOP_REPEATS)
    if loop is None:
        verdict = f"no repeating cycle within {length} characters"
    else:
        after = max(0, loop[0] - len(prime))
        verdict = f"falls into a loop after {after} new characters, repeating a {len(loop[1])}-character cycle"
    data = {"text": text, "loop_start": loop[0] if loop else None, "cycle": loop[1] if loop else None}
    return Measured([Shown(f"<p><b>{esc(verdict)}</b></p>{pre(text)}", f"{verdict}\n{text}")], data,
                    [loop_claim(verdict, loop, length)])


def find_loop(text: str, min_repeats: int = 3) -> tuple[int, str] | None:
    """(start, cycle) of the shortest cycle repeated at least ``min_repeats`` times at the end of ``text``."""
    for period in range(1, len(text) // min_repeats + 1):
        cycle = text[-period:]
        if text.endswith(cycle * min_repeats):
            start = len(text) - period * min_repeats
            while start >= period and text[start - period:start] == cycle:
                start -= period
            while start > 0 and text[start - 1] == text[start - 1 + period]:
                start -= 1
            return start, text[start:start + period]
    return None


def loop_claim(found: str, loop: tuple[int, str] | None, length: int) -> Claim:
    """Held when the greedy sample loops; its number is the length of the cycle."""
    return Claim.of(LOOP, f"always taking the likeliest character, our model {found}",
                    enough("held" if loop else "not", length, LOOP_MIN_CHARS),
                    rule(f"the greedy sample ends in a cycle repeated at least {LOOP_REPEATS} times", None,
                         LOOP_MIN_CHARS, "characters sampled"),
                    len(loop[1]) if loop else None, length)


# --------------------------------------------------------------------------- invented words against temperature

_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")


def words(text: str) -> list[str]:
    """Words as letters (with an inner apostrophe), lower-cased: what 'a spelling mistake' is judged on."""
    return [w.lower() for w in _WORD.findall(text)]


def novel_word_share(text: str, known: set[str]) -> float | None:
    """Share of the words of ``text`` (repeats counted) that never occur in ``known``: invented words."""
    ws = words(text)
    return sum(w not in known for w in ws) / len(ws) if ws else None


def distinct_ngram_share(text: str, n: int = 4) -> float | None:
    """Distinct word n-grams over all word n-grams: 1.0 never repeats itself, a loop tends to 0."""
    ws = words(text)
    grams = [tuple(ws[i:i + n]) for i in range(len(ws) - n + 1)]
    return len(set(grams)) / len(grams) if grams else None


def _mean(values: Sequence[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else None


def temperature_measures(samples_by_temperature: Mapping[float, Sequence[str]], training_text: str,
                         real_pieces: Sequence[str], n: int = 2) -> dict[str, Any]:
    """Per temperature: invented-word share and distinct word n-gram share, beside held-out real text."""
    known = set(words(training_text))
    rows = [{"temperature": float(t), "novel_word_share": _mean([novel_word_share(s, known) for s in texts]),
             "distinct_ngram_share": _mean([distinct_ngram_share(s, n) for s in texts]),
             "words": sum(len(words(s)) for s in texts)}
            for t, texts in sorted(samples_by_temperature.items())]
    real = {"novel_word_share": _mean([novel_word_share(s, known) for s in real_pieces]),
            "distinct_ngram_share": _mean([distinct_ngram_share(s, n) for s in real_pieces])}
    return {"n": n, "samples": sum(map(len, samples_by_temperature.values())), "by_temperature": rows, "real": real}


def temperature_claim(measures: Mapping[str, Any]) -> Claim:
    """The post's two sides of temperature, judged at the ends of the sweep beside real held-out text: the lowest
    more conservative (repeats itself more than real text), the highest more mistaken (invents more words than real
    text), both measures rising in between. Its number is the rise of the invented-word share."""
    rows, real = measures["by_temperature"], measures["real"]
    low, high = rows[0], rows[-1]

    def share(row: Mapping[str, Any], key: str) -> float:
        return row[key] if row[key] is not None else float("nan")

    rising = (share(low, "novel_word_share") < share(high, "novel_word_share")
              and share(low, "distinct_ngram_share") < share(high, "distinct_ngram_share"))
    conservative = share(low, "distinct_ngram_share") < share(real, "distinct_ngram_share")
    mistaken = share(high, "novel_word_share") > share(real, "novel_word_share")
    ours = (f"from T={low['temperature']:g} to T={high['temperature']:g} invented words go from "
            f"{pct(low['novel_word_share'])} to {pct(high['novel_word_share'])} of the words (real held-out text: "
            f"{pct(real['novel_word_share'])}) and distinct word {measures['n']}-grams from "
            f"{pct(low['distinct_ngram_share'])} to {pct(high['distinct_ngram_share'])} (real: "
            f"{pct(real['distinct_ngram_share'])}), on {low.get('words', 0):,} and {high.get('words', 0):,} words")
    verdict = "held" if rising and conservative and mistaken else "partly" if conservative or mistaken else "not"
    fewest = min(low.get("words", 0), high.get("words", 0))
    rise = None if high["novel_word_share"] is None else high["novel_word_share"] - (low["novel_word_share"] or 0)
    return Claim.of(TEMPERATURE, ours, enough(verdict, fewest, TEMPERATURE_MIN_WORDS), TEMPERATURE_RULE, rise, fewest)


def temperature_figure(measures: Mapping[str, Any]) -> Any:
    """Both measures against temperature, the real text's level as a dashed line."""
    import matplotlib.pyplot as plt

    rows, real = measures["by_temperature"], measures["real"]
    temps = [r["temperature"] for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    labels = {"novel_word_share": "share of words not in the training text",
              "distinct_ngram_share": f"distinct word {measures['n']}-grams / all"}
    for ax, (key, label) in zip(axes, labels.items()):
        ax.plot(temps, [r[key] for r in rows], "o-", color="#3182bd", label="samples")
        if real[key] is not None:
            ax.axhline(real[key], color="gray", ls="--", label=f"real held-out text ({real[key]:.2f})")
        ax.set_xlabel("temperature")
        ax.set_title(label, fontsize=10)
        ax.set_ylim(0, 1.05)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def temperature_table(measures: Mapping[str, Any], length: int) -> Shown:
    key = f"distinct word {measures['n']}-grams"
    rows = [{"temperature": r["temperature"], "words not in the training text": r["novel_word_share"],
             key: r["distinct_ngram_share"]} for r in measures["by_temperature"]]
    rows.append({"temperature": "real text", "words not in the training text": measures["real"]["novel_word_share"],
                 key: measures["real"]["distinct_ngram_share"]})
    return table(rows, f"samples of {length} characters at each temperature, beside held-out text")


def measure_temperature(run: RunResult, corpus: Corpus, temperatures: Sequence[float], n: int, length: int,
                        prime: str = "", seed: int = 0, path: Any = None) -> Shown:
    """Invented words and repetition against temperature, n samples each, beside held-out text."""
    by_t = {t: generate(run, n, length, t, prime, seed) for t in temperatures}
    m = temperature_measures(by_t, corpus.split("train"),
                             reference_pieces(corpus.split("test"), by_t[temperatures[0]], prime))
    show_figure(temperature_figure(m), path)
    return Measured([temperature_table(m, length)], m, [temperature_claim(m)])
