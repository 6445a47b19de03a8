"""08 evolution: samples taken while training, and the post's stage-by-stage story measured.

The post (War and Peace, samples every 100 iterations) tells it in prose: at iteration 100 "random jumbles"
but "starting to get an idea about words separated by spaces"; at 300 "quotes and periods"; at 500 "the
shortest and most common words"; at 1200 "Longer words have now been learned as well"; by 2000 "properly
spelled words, quotations, names". Each of those is a number here, measured on the sample taken at that
iteration and on real held-out text beside it, and judged by its own rule; then the post's summary, the order
in which the stages arrive. Samples are long (the preset's ``sample_at_length``) so that quote marks, the rarest
thing counted, number dozens per sample.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, Mapping, Sequence

from charlm.analysis.display import Shown, figure_png, loss_figure, rows_of_text, save_png
from charlm.paper.claims import POST, TOO_FEW, Claim, Measured, Said, enough, judged, pct, rule
from charlm.paper.notebook import Corpus, references
from charlm.run import RunResult

# --------------------------------------------------------------------------- what the post says, and the rules

_EVOLUTION = POST + "#the-evolution-of-samples-while-training"
# A stage has arrived when the samples' measure is within WITHIN (relative) of real text's; within twice that, it
# is on its way (partly).
WITHIN = 0.2
# Words of at most SHORT letters are the post's "shortest and most common words"; of at least LONG, its "longer".
SHORT, LONG = 3, 6
# What each judgement rests on, at least: characters of the sample, short or long words in it, quote marks in it.
MIN_CHARS, MIN_WORDS, MIN_QUOTE_MARKS = 1000, 30, 20

SPACES = Said("at least it is starting to get an idea about words separated by spaces", _EVOLUTION)
SPACES_AT = 100
QUOTES_AND_PERIODS = Said("the model starts to get an idea about quotes and periods", _EVOLUTION)
QUOTES_AT = 300
# "Starts to get an idea": quote marks and periods at least this share of real text's rate (per character).
STARTED = 0.5
SHORT_WORDS = Said("the model has now learned to spell the shortest and most common words", _EVOLUTION)
SHORT_AT = 500
LONG_WORDS = Said("Longer words have now been learned as well", _EVOLUTION)
LONG_AT = 1200
SPELLED = Said("Until at last we start to get properly spelled words, quotations, names, and so on by about iteration "
               "2000", _EVOLUTION)
SPELLED_AT = 2000
STORY = Said("the model first discovers the general word-space structure and then rapidly starts to learn the words; "
             "First starting with the short words and then eventually the longer ones.", _EVOLUTION)
MIN_SAMPLES = 3  # sampled iterations the order is read from

# --------------------------------------------------------------------------- the samples beside the loss curve

# How much of each sample the page shows: the whole of it is measured (and kept in the record).
SHOWN_CHARS = 600


def evolution_table(run: RunResult, shown: int = SHOWN_CHARS) -> Shown:
    """Samples taken while training, one row per iteration, with the training loss at that point; each cut to its
    first ``shown`` characters (the plain form and ``data`` keep them whole)."""
    losses = dict(enumerate(run.state.train_losses, start=1))
    rows, whole = [], []
    for it, text in run.samples:
        loss = losses.get(it)
        label = f"iteration {it}" + (f" (loss {loss:.2f})" if loss is not None else "")
        cut = text if len(text) <= shown else text[:shown] + f" … ({len(text) - shown:,} more characters measured)"
        rows.append((label, cut))
        whole.append((label, text))
    if not rows:
        return Shown("<p>no samples: they are taken while training (a loaded checkpoint has none saved)</p>",
                     "no samples: they are taken while training (a loaded checkpoint has none saved)", [])
    title = "the same seed, sampled as training went on"
    return Shown(rows_of_text(rows, title).html, rows_of_text(whole, title).plain, whole)


def evolution_view(run: RunResult, corpus: Corpus, path: Any = None) -> Shown:
    """The loss curve with the sampling iterations marked, then the samples taken there (on the page itself: no
    inner scroll box)."""
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
    html_text = f"<img style='max-width:100%' src='data:image/png;base64,{image}'/>{samples.html}"
    return Shown(html_text, samples.plain, samples.data)


# --------------------------------------------------------------------------- word-level statistics

_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")  # letters, with inner apostrophes (don't, Natásha's)
_PUNCTUATION = set(".,;:!?-—()'\"“”‘’")
_QUOTE_MARKS = "“”\""


def words(text: str) -> list[str]:
    return _WORD.findall(text)


def dictionary(text: str) -> set[str]:
    """The lower-cased words of ``text``: what counts as a real word (the training split's vocabulary)."""
    return {w.lower() for w in words(text)}


def quote_balance(text: str) -> float | None:
    """Share of quotation marks that take part in a correctly closed pair: curly “ ” matched in order,
    straight " paired off two by two. None when the text has no quotation marks."""
    marks = [ch for ch in text if ch in _QUOTE_MARKS]
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


def _share_known(toks: Sequence[str], known: set[str]) -> float | None:
    return sum(w.lower() in known for w in toks) / len(toks) if toks else None


@dataclass
class WordStats:
    chars: int
    words: int
    dictionary_share: float | None  # share of word tokens found in the dictionary
    mean_word_length: float | None
    space_share: float  # spaces among all characters
    punctuation_share: float
    double_spaces: float  # "  " per 100 characters (the post: "sometimes it inserts two spaces")
    quote_marks: int  # “ ” and " counted
    quote_rate: float  # quote marks per 1,000 characters
    period_rate: float  # periods per 1,000 characters
    quote_balance: float | None
    short_words: int  # words of at most SHORT letters
    short_dictionary_share: float | None
    long_words: int  # words of at least LONG letters
    long_dictionary_share: float | None
    spelled_word_length: float | None  # mean length of the words found in the dictionary

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def word_stats(text: str, known: set[str]) -> WordStats:
    toks = words(text)
    n = max(len(text), 1)
    short = [w for w in toks if len(w) <= SHORT]
    long = [w for w in toks if len(w) >= LONG]
    spelled = [w for w in toks if w.lower() in known]
    marks = sum(ch in _QUOTE_MARKS for ch in text)
    return WordStats(
        chars=len(text), words=len(toks), dictionary_share=_share_known(toks, known),
        mean_word_length=sum(map(len, toks)) / len(toks) if toks else None,
        space_share=text.count(" ") / n, punctuation_share=sum(ch in _PUNCTUATION for ch in text) / n,
        double_spaces=100 * text.count("  ") / n, quote_marks=marks, quote_rate=1000 * marks / n,
        period_rate=1000 * text.count(".") / n, quote_balance=quote_balance(text),
        short_words=len(short), short_dictionary_share=_share_known(short, known),
        long_words=len(long), long_dictionary_share=_share_known(long, known),
        spelled_word_length=sum(map(len, spelled)) / len(spelled) if spelled else None)


MEASURES = {"space_share": "share of spaces", "short_dictionary_share": f"words of 1-{SHORT} letters spelled right",
            "long_dictionary_share": f"words of {LONG}+ letters spelled right",
            "spelled_word_length": "mean length of words spelled right", "quote_rate": "quote marks per 1,000 chars",
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
    fig, axes = plt.subplots(1, len(MEASURES), figsize=(3.1 * len(MEASURES), 3.2))
    for ax, (key, label) in zip(axes, MEASURES.items()):
        pts = [(r["iteration"], r[key]) for r in sampled if r[key] is not None]
        if pts:
            ax.plot(*zip(*pts), "o-", color="#3182bd", label="samples")
        if real is not None and real[key] is not None:
            ax.axhline(real[key], color="#e6550d", ls="--", label="real text")
        ax.set_xscale("log")
        ax.set_xlabel("iteration")
        ax.set_title(label, fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- the post's stages, judged


def _near(value: float | None, target: float | None, within: float) -> bool:
    return value is not None and target is not None and abs(value - target) <= within * abs(target)


def _graded(value: float | None, target: float | None) -> str:
    """held within WITHIN of real text's, partly within twice that, else not."""
    return "held" if _near(value, target, WITHIN) else "partly" if _near(value, target, 2 * WITHIN) else "not"


def _first_close(sampled: Sequence[dict[str, Any]], key: str, target: float | None, within: float) -> int | None:
    """The first iteration whose ``key`` is within ``within`` (relative) of ``target``."""
    return next((r["iteration"] for r in sampled if _near(r[key], target, within)), None)


STAGES = {"space_share": "spaces", "short_dictionary_share": "short words spelled",
          "long_dictionary_share": "long words spelled", "quote_balance": "quotes paired"}


def stages(rows: Sequence[dict[str, Any]], within: float = WITHIN) -> dict[str, int | None]:
    """When each stage of the post's story arrived: the first iteration at which spaces, the spelling of short
    words, of long words, and quote pairing are each within ``within`` of real text."""
    sampled = [r for r in rows if r["iteration"] is not None]
    real = next(r for r in rows if r["iteration"] is None)
    return {key: _first_close(sampled, key, real[key], within) for key in STAGES}


def _at(rows: Sequence[dict[str, Any]], iteration: int) -> dict[str, Any] | None:
    return next((r for r in rows if r["iteration"] == iteration), None)


def _fmt(v: float | None, percent: bool = True) -> str:
    return "n/a" if v is None else pct(v) if percent else f"{v:.1f}"


def _missing(said: Said, iteration: int, how: str) -> Claim:
    return Claim.of(said, f"no sample at iteration {iteration}", TOO_FEW, how, None, 0)


def spaces_claim(rows: Sequence[dict[str, Any]]) -> Claim:
    """At SPACES_AT: the share of spaces near real text's."""
    how = rule(f"at iteration {SPACES_AT} the share of spaces is within {pct(WITHIN)} of real text's",
               f"within {pct(2 * WITHIN)}", MIN_CHARS, "sampled characters")
    r, real = _at(rows, SPACES_AT), rows[-1]
    if r is None:
        return _missing(SPACES, SPACES_AT, how)
    return Claim.of(SPACES, f"at iteration {SPACES_AT}: {pct(r['space_share'])} spaces (real text "
                            f"{pct(real['space_share'])}), {r['double_spaces']:.1f} double spaces per 100 characters "
                            f"(real {real['double_spaces']:.1f})",
                    enough(_graded(r["space_share"], real["space_share"]), r["chars"], MIN_CHARS), how,
                    r["space_share"], r["chars"])


def quotes_claim(rows: Sequence[dict[str, Any]]) -> Claim:
    """At QUOTES_AT: quote marks and periods, each at least STARTED of real text's rate."""
    how = rule(f"at iteration {QUOTES_AT} quote marks and periods each come at least {STARTED:g} x as often as in real "
               "text", "one of them does", MIN_CHARS, "sampled characters")
    r, real = _at(rows, QUOTES_AT), rows[-1]
    if r is None:
        return _missing(QUOTES_AND_PERIODS, QUOTES_AT, how)
    started = [r[k] >= STARTED * real[k] > 0 for k in ("quote_rate", "period_rate")]
    verdict = "held" if all(started) else "partly" if any(started) else "not"
    return Claim.of(QUOTES_AND_PERIODS,
                    f"at iteration {QUOTES_AT}: {r['quote_rate']:.1f} quote marks and {r['period_rate']:.1f} periods "
                    f"per 1,000 characters (real text {real['quote_rate']:.1f} and {real['period_rate']:.1f})",
                    enough(verdict, r["chars"], MIN_CHARS), how, r["quote_rate"], r["chars"])


def words_claim(rows: Sequence[dict[str, Any]], said: Said, iteration: int, key: str, count: str, what: str) -> Claim:
    """At ``iteration``: the share of ``what`` words spelled right (found in the training split) near real text's."""
    how = rule(f"at iteration {iteration} the share of {what} spelled right is within {pct(WITHIN)} of real text's",
               f"within {pct(2 * WITHIN)}", MIN_WORDS, f"{what} sampled")
    r, real = _at(rows, iteration), rows[-1]
    if r is None:
        return _missing(said, iteration, how)
    return Claim.of(said, f"at iteration {iteration}: {pct(r[key])} of {r[count]} {what} spelled right (real text "
                          f"{pct(real[key])}); words spelled right average {_fmt(r['spelled_word_length'], False)} "
                          f"letters (real {_fmt(real['spelled_word_length'], False)})",
                    enough(_graded(r[key], real[key]), r[count], MIN_WORDS), how, r[key], r[count])


def spelled_claim(rows: Sequence[dict[str, Any]]) -> Claim:
    """At SPELLED_AT: words spelled right and quotes paired, each near real text's."""
    how = rule(f"at iteration {SPELLED_AT} the share of words spelled right and the share of quote marks in closed "
               f"pairs are both within {pct(WITHIN)} of real text's", "one of them is", MIN_QUOTE_MARKS,
               "sampled quote marks")
    r, real = _at(rows, SPELLED_AT), rows[-1]
    if r is None:
        return _missing(SPELLED, SPELLED_AT, how)
    near = [_near(r[k], real[k], WITHIN) for k in ("dictionary_share", "quote_balance")]
    verdict = "held" if all(near) else "partly" if any(near) else "not"
    return Claim.of(SPELLED, f"at iteration {SPELLED_AT}: {pct(r['dictionary_share'])} of the words spelled right (real "
                             f"{pct(real['dictionary_share'])}), {pct(r['quote_balance'])} of {r['quote_marks']} quote "
                             f"marks in closed pairs (real {pct(real['quote_balance'])})",
                    enough(verdict, r["quote_marks"], MIN_QUOTE_MARKS), how, r["dictionary_share"], r["quote_marks"])


def story(rows: Sequence[dict[str, Any]]) -> tuple[str, Claim]:
    """The post's summary: spaces first, then short words spelled, then long ones. The sentence says when each
    stage (quotes too) came within WITHIN of real text; the claim's number is how many of the three arrived."""
    how = rule("spaces, short words spelled and long words spelled each come within "
               f"{pct(WITHIN)} of real text, in that order", "spaces come first and short words arrive", MIN_SAMPLES,
               "sampled iterations")
    sampled = [r for r in rows if r["iteration"] is not None]
    real = rows[-1]
    if not sampled:
        return "no samples were taken while training (a loaded checkpoint has none saved)", Claim.of(
            STORY, "no samples", enough("not", 0, MIN_SAMPLES), how, None, 0)
    when = stages(rows)
    first, last = sampled[0], sampled[-1]
    arrivals = "; ".join(f"{STAGES[k]} {'at iteration ' + str(v) if v else 'not by iteration ' + str(last['iteration'])}"
                         for k, v in when.items())
    sentence = (f"From iteration {first['iteration']} ({first['chars_seen']:,} characters seen) to "
                f"{last['iteration']} ({last['chars_seen']:,}): words spelled right {pct(first['dictionary_share'])} -> "
                f"{pct(last['dictionary_share'])} (real text {pct(real['dictionary_share'])}), their mean length "
                f"{_fmt(first['spelled_word_length'], False)} -> {_fmt(last['spelled_word_length'], False)} (real "
                f"{_fmt(real['spelled_word_length'], False)}), spaces {pct(first['space_share'])} -> "
                f"{pct(last['space_share'])} (real {pct(real['space_share'])}), quote marks in closed pairs "
                f"{pct(first['quote_balance'])} -> {pct(last['quote_balance'])} (real {pct(real['quote_balance'])}). "
                f"Within {pct(WITHIN)} of real text: {arrivals}.")
    spaces, short, long = (when[k] for k in ("space_share", "short_dictionary_share", "long_dictionary_share"))
    if spaces is not None and short is not None and long is not None and spaces <= short <= long:
        verdict = "held"
    elif spaces is not None and short is not None and spaces <= short:
        verdict = "partly"
    else:
        verdict = "not"
    arrived = sum(v is not None for v in (spaces, short, long))
    return sentence, Claim.of(STORY, sentence, enough(verdict, len(sampled), MIN_SAMPLES), how, arrived, len(sampled))


def verdicts(rows: Sequence[dict[str, Any]]) -> Measured:
    """The post's stages judged (:func:`claims`), after the sentence that says when each arrived."""
    return judged(claims(rows), story(rows)[0])


def claims(rows: Sequence[dict[str, Any]]) -> list[Claim]:
    """The post's stages, each at its iteration, then its summary of their order."""
    return [spaces_claim(rows), quotes_claim(rows),
            words_claim(rows, SHORT_WORDS, SHORT_AT, "short_dictionary_share", "short_words", f"words of 1-{SHORT} letters"),
            words_claim(rows, LONG_WORDS, LONG_AT, "long_dictionary_share", "long_words", f"words of {LONG}+ letters"),
            spelled_claim(rows), story(rows)[1]]


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
