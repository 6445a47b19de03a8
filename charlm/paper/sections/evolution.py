"""08 evolution: samples taken while training, and the post's stage-by-stage story measured.

The post (War and Peace, samples every 100 iterations) tells it in prose: at iteration 100 "random jumbles"
but "starting to get an idea about words separated by spaces"; at 300 "quotes and periods"; at 500 "the
shortest and most common words"; at 1200 "quotations and question/exclamation marks. Longer words"; by
2000 "properly spelled words, quotations, names". Each of those is a word-level number here, for every sample
and for real text of the same length beside it.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, Sequence

from charlm.analysis.display import Shown, figure_png, loss_figure, rows_of_text, save_png
from charlm.paper.claims import POST, Claim, Said, pct
from charlm.paper.notebook import Corpus, references
from charlm.run import RunResult

# --------------------------------------------------------------------------- what the post says, and the rules

STORY = Said("the model first learns the word-space structure, then short words, then longer words; quotes come "
             "later", POST + "#the-evolution-of-samples-while-training", quoted=False)
# A stage has arrived when the samples' measure is within this share of real text's.
WITHIN = 0.2
STORY_RULE = (f"held when spaces, dictionary words, word length and quote pairing each come within {100 * WITHIN:.0f}% "
              "of real text, spaces no later than words and words no later than quotes; partly when spaces do")

# --------------------------------------------------------------------------- the samples beside the loss curve


def evolution_table(run: RunResult) -> Shown:
    """Samples taken while training, one row per iteration, with the training loss at that point."""
    losses = dict(enumerate(run.state.train_losses, start=1))
    rows = []
    for it, text in run.samples:
        loss = losses.get(it)
        rows.append((f"iteration {it}" + (f" (loss {loss:.2f})" if loss is not None else ""), text))
    if not rows:
        return Shown("<p>no samples: they are taken while training (a loaded checkpoint has none saved)</p>",
                     "no samples: they are taken while training (a loaded checkpoint has none saved)", [])
    return rows_of_text(rows, "the same seed, sampled as training went on")


def evolution_view(run: RunResult, corpus: Corpus, path: Any = None) -> Shown:
    """The loss curve with the sampling iterations marked, beside the samples taken there."""
    import base64

    import matplotlib.pyplot as plt

    fig = loss_figure(run, references(corpus), marks=[it for it, _ in run.samples])
    ax = fig.axes[0]
    ax.set_title("loss while training; green lines: where the samples were taken", pad=16)
    for it, _ in run.samples:
        ax.annotate(str(it), (it, 1.0), xycoords=("data", "axes fraction"), fontsize=8, color="#31a354",
                    ha="center", va="bottom")
    png = figure_png(fig)  # rendered once: the same image goes to the page and to the file
    save_png(png, path)
    plt.close(fig)
    image = base64.b64encode(png).decode("ascii")
    samples = evolution_table(run)
    html_text = (f"<div style='display:flex; gap:16px; align-items:flex-start'>"
                 f"<img style='max-width:48%' src='data:image/png;base64,{image}'/>"
                 f"<div style='max-width:52%; max-height:600px; overflow:auto'>{samples.html}</div></div>")
    return Shown(html_text, samples.plain, samples.data)


# --------------------------------------------------------------------------- word-level statistics

_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")  # letters, with inner apostrophes (don't, Natásha's)
_PUNCTUATION = set(".,;:!?-—()'\"“”‘’")
# Quote pairs: curly (War and Peace) and straight, where the same mark opens and closes.
_CURLY = {"“": "”"}


def words(text: str) -> list[str]:
    return _WORD.findall(text)


def dictionary(text: str) -> set[str]:
    """The lower-cased words of ``text``: what counts as a real word (the training split's vocabulary)."""
    return {w.lower() for w in words(text)}


def quote_balance(text: str) -> float | None:
    """Share of quotation marks that take part in a correctly closed pair: curly “ ” matched in order,
    straight " paired off two by two. None when the text has no quotation marks."""
    marks = [ch for ch in text if ch in "“”\""]
    if not marks:
        return None
    paired, open_curly = 0, 0
    for ch in marks:
        if ch == "“":
            open_curly += 1
        elif ch == "”" and open_curly:
            open_curly -= 1
            paired += 2
    straight = sum(ch == '"' for ch in marks)
    paired += straight - straight % 2
    return paired / len(marks)


@dataclass
class WordStats:
    chars: int
    words: int
    dictionary_share: float | None  # share of word tokens found in the dictionary
    mean_word_length: float | None
    space_share: float  # spaces among all characters
    punctuation_share: float
    double_spaces: float  # "  " per 100 characters (the post: "sometimes it inserts two spaces")
    quote_balance: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def word_stats(text: str, known: set[str]) -> WordStats:
    toks = words(text)
    n = max(len(text), 1)
    return WordStats(
        chars=len(text), words=len(toks),
        dictionary_share=sum(w.lower() in known for w in toks) / len(toks) if toks else None,
        mean_word_length=sum(map(len, toks)) / len(toks) if toks else None,
        space_share=text.count(" ") / n, punctuation_share=sum(ch in _PUNCTUATION for ch in text) / n,
        double_spaces=100 * text.count("  ") / n, quote_balance=quote_balance(text))


MEASURES = {"dictionary_share": "share of dictionary words", "mean_word_length": "mean word length",
            "space_share": "share of spaces", "punctuation_share": "share of punctuation",
            "quote_balance": "quote marks in closed pairs"}


def evolution_rows(samples: Sequence[tuple[int, str]], train_text: str, reference: str, batch_size: int,
                   seq_length: int) -> list[dict[str, Any]]:
    """One row per sampled iteration (with the characters the model had seen by then: iteration x batch x
    sequence length), and a last row for ``reference``, real held-out text."""
    known = dictionary(train_text)
    rows = [{"iteration": it, "chars_seen": it * batch_size * seq_length, **word_stats(text, known).as_dict()}
            for it, text in samples]
    rows.append({"iteration": None, "chars_seen": None, **word_stats(reference, known).as_dict()})
    return rows


def evolution_figure(rows: Sequence[dict[str, Any]], title: str = "") -> Any:
    """Each measure against iteration (log scale), real text as a dashed line."""
    import matplotlib.pyplot as plt

    sampled = [r for r in rows if r["iteration"] is not None]
    real = next((r for r in rows if r["iteration"] is None), None)
    fig, axes = plt.subplots(1, len(MEASURES), figsize=(3.2 * len(MEASURES), 3.2))
    for ax, (key, label) in zip(axes, MEASURES.items()):
        pts = [(r["iteration"], r[key]) for r in sampled if r[key] is not None]
        if pts:
            ax.plot(*zip(*pts), "o-", color="#3182bd", label="samples")
        if real is not None and real[key] is not None:
            ax.axhline(real[key], color="#e6550d", ls="--", label="real text")
        ax.set_xscale("log")
        ax.set_xlabel("iteration")
        ax.set_title(label, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def _first_close(sampled: Sequence[dict[str, Any]], key: str, target: float | None, within: float) -> int | None:
    """The first iteration whose ``key`` is within ``within`` (relative) of ``target``."""
    if target is None:
        return None
    for r in sampled:
        if r[key] is not None and abs(r[key] - target) <= within * abs(target):
            return r["iteration"]
    return None


def stages(rows: Sequence[dict[str, Any]], within: float = WITHIN) -> dict[str, int | None]:
    """When each stage of the post's story arrived: the first iteration at which spaces, dictionary words,
    word length and quote pairing are each within ``within`` of real text."""
    sampled = [r for r in rows if r["iteration"] is not None]
    real = next(r for r in rows if r["iteration"] is None)
    return {key: _first_close(sampled, key, real[key], within)
            for key in ("space_share", "dictionary_share", "mean_word_length", "quote_balance")}


def story(rows: Sequence[dict[str, Any]]) -> tuple[str, Claim]:
    """The computed sentence on the post's order (spaces, then words, short before long, then quotes) and
    its claim; its number is how many of the four stages arrived."""
    within = WITHIN
    sampled = [r for r in rows if r["iteration"] is not None]
    real = next(r for r in rows if r["iteration"] is None)
    if not sampled:
        return "no samples were taken while training (a loaded checkpoint has none saved)", Claim.of(
            STORY, "no samples", "not", STORY_RULE, None, 0)
    when = stages(rows, within)
    first, last = sampled[0], sampled[-1]

    def fmt(r: dict[str, Any], key: str) -> str:
        v = r[key]
        return "n/a" if v is None else (pct(v) if key != "mean_word_length" else f"{v:.1f}")

    named = {"space_share": "spaces", "dictionary_share": "dictionary words", "mean_word_length": "word length",
             "quote_balance": "quote pairing"}
    arrivals = "; ".join(f"{named[k]} {'at iteration ' + str(v) if v else 'not by iteration ' + str(last['iteration'])}"
                         for k, v in when.items())
    sentence = (f"From iteration {first['iteration']} ({first['chars_seen']:,} characters seen) to "
                f"{last['iteration']} ({last['chars_seen']:,}): dictionary words {fmt(first, 'dictionary_share')} -> "
                f"{fmt(last, 'dictionary_share')} (real text {fmt(real, 'dictionary_share')}), mean word length "
                f"{fmt(first, 'mean_word_length')} -> {fmt(last, 'mean_word_length')} (real "
                f"{fmt(real, 'mean_word_length')}), spaces {fmt(first, 'space_share')} -> {fmt(last, 'space_share')} "
                f"(real {fmt(real, 'space_share')}), quotes closed {fmt(first, 'quote_balance')} -> "
                f"{fmt(last, 'quote_balance')} (real {fmt(real, 'quote_balance')}). Within {pct(within)} of real "
                f"text: {arrivals}.")
    order = [when[k] for k in ("space_share", "dictionary_share", "quote_balance")]
    inf = float("inf")
    ordered = all((a or inf) <= (b or inf) for a, b in zip(order, order[1:]))
    arrived = sum(v is not None for v in when.values())
    verdict = "held" if ordered and arrived == len(when) else ("partly" if when["space_share"] is not None else "not")
    return sentence, Claim.of(STORY, sentence, verdict, STORY_RULE, arrived, len(sampled))


# char-rnn's train.lua defaults (-batch_size 50 -seq_length 50): the post does not give its settings for
# the War and Peace run, so these are the nearest thing to "its" iteration.
CHAR_RNN_BATCH, CHAR_RNN_SEQ = 50, 50


def iteration_sentence(batch_size: int, seq_length: int, iterations: Sequence[int]) -> str:
    """What "iteration N" means here beside the post: characters seen, ours and at char-rnn's defaults."""
    ours, theirs = batch_size * seq_length, CHAR_RNN_BATCH * CHAR_RNN_SEQ
    last = max(iterations) if iterations else 0
    return (f"One iteration here is {batch_size} x {seq_length} = {ours:,} characters; at char-rnn's defaults "
            f"({CHAR_RNN_BATCH} x {CHAR_RNN_SEQ}) it is {theirs:,}. By iteration {last:,} this model has seen "
            f"{last * ours:,} characters, {ours / theirs:.2f} times what the same iteration means at char-rnn's "
            f"defaults: compare samples by characters seen, not only by iteration.")
