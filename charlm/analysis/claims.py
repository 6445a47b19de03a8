"""The post's claims, measured: text measures for samples beside real text, and the verdict on each claim.

A claim is data, so that the results summary can list every section's claims the same way::

    {"claim": "<the post's words>", "link": "<the post's section>", "ours": "<a sentence with our numbers>",
     "verdict": "held" | "partly" | "not"}

Each measure here is made on the model's samples and on real text under the same rule (the paper layer cuts
the real text into pieces of the samples' lengths), because a number means something only beside that.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from charlm.analysis.display import Shown, esc, stack, table
from charlm.errors import CharlmError

POST = "https://karpathy.github.io/2015/05/21/rnn-effectiveness/"
PAPER = "https://arxiv.org/abs/1506.02078"  # Karpathy, Johnson & Fei-Fei (2015)
VERDICTS = ("held", "partly", "not")


@dataclass
class Claim:
    claim: str  # the post's words, quoted exactly
    link: str  # the post's section
    ours: str  # what we measured, as a sentence with the numbers
    verdict: str  # held | partly | not (at this profile's size)

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise CharlmError(f"verdict {self.verdict!r} is not one of {', '.join(VERDICTS)}")

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    def shown(self) -> Shown:
        """The sentence under a measurement's output: what we found, and whether the claim held."""
        return Shown(f"<p><b>{esc(self.verdict.upper())}</b> at this size: {esc(self.ours)}</p>",
                     f"{self.verdict.upper()} at this size: {self.ours}", self.as_dict())


def by_ratio(ours: float | None, real: float | None, held: float = 0.8, partly: float = 0.5) -> str:
    """Verdict for 'the samples do what real text does': ours at least ``held`` (or ``partly``) times real's."""
    if ours is None or not real:
        return "not"
    ratio = ours / real
    return "held" if ratio >= held else "partly" if ratio >= partly else "not"


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.0f}%"


def with_claims(parts: Sequence[Shown], data: dict[str, Any], found: Sequence[Claim]) -> Shown:
    """A measurement's output followed by its verdict sentences; the claims go into the data for the record."""
    return stack([*parts, *(c.shown() for c in found)], {**data, "claims": [c.as_dict() for c in found]})


def claims_of(extra: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every claim dict recorded in a section's ``extra`` (``extra["claims"]`` or any measure's ``"claim"``)."""
    found = [dict(c) for c in extra.get("claims") or []]
    for value in extra.values():
        if isinstance(value, Mapping):
            nested = [value["claim"]] if isinstance(value.get("claim"), Mapping) else list(value.get("claims") or [])
            found += [dict(c) for c in nested if isinstance(c, Mapping) and dict(c) not in found]
    return found


def claim(text: str, ours: str, verdict: str, link: str = POST, **numbers: Any) -> dict[str, Any]:
    """A claims row as a dict, with the measured values behind ``ours`` beside it (for records built by hand)."""
    return {**Claim(text, link, ours, verdict).as_dict(), **numbers}


def say(sentence: str) -> Shown:
    """A computed sentence as a cell's output: a paragraph in Jupyter, the text in a log."""
    return Shown(f"<p><b>What to look for:</b> {esc(sentence)}</p>", sentence, sentence)


def against_published(text: str, measured: str, ours: float | None, theirs: float, close: float = 0.10,
                      near: float = 0.25, link: str = POST) -> tuple[str, dict[str, Any]]:
    """A share we measured beside the share the post reports: held within ``close`` (absolute), partly within
    ``near``, otherwise not. Returns the sentence and the claims row."""
    if ours is None:
        return f"{measured}: nothing to measure.", claim(text, "nothing measured", "not", link)
    gap = abs(ours - theirs)
    verdict = "held" if gap <= close else ("partly" if gap <= near else "not")
    sentence = (f"{measured}: {pct(ours)} here, {pct(theirs)} in the post, {100 * gap:.0f} points apart: "
                f"{'held' if verdict == 'held' else 'partly held' if verdict == 'partly' else 'did not hold'} at this size.")
    return sentence, claim(text, sentence, verdict, link, ours_value=ours, theirs_value=theirs)


def sample_sentence(sample: str, expected: str) -> str:
    """Whether a (greedy) sample spells what the training text says."""
    same = sample == expected
    return (f"Sampled greedily from {expected[0]!r}: {sample!r}, {'exactly' if same else 'not'} the training "
            f"sequence {expected!r}.")


# --------------------------------------------------------------------------- words (02 temperature)

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
             "distinct_ngram_share": _mean([distinct_ngram_share(s, n) for s in texts])}
            for t, texts in sorted(samples_by_temperature.items())]
    real = {"novel_word_share": _mean([novel_word_share(s, known) for s in real_pieces]),
            "distinct_ngram_share": _mean([distinct_ngram_share(s, n) for s in real_pieces])}
    return {"n": n, "by_temperature": rows, "real": real}


def temperature_claim(measures: Mapping[str, Any]) -> Claim:
    rows, real = measures["by_temperature"], measures["real"]
    low, high = rows[0], rows[-1]
    more_novel = (low["novel_word_share"] or 0) < (high["novel_word_share"] or 0)
    more_diverse = (low["distinct_ngram_share"] or 0) < (high["distinct_ngram_share"] or 0)
    ours = (f"from T={low['temperature']:g} to T={high['temperature']:g} invented words go from "
            f"{pct(low['novel_word_share'])} to {pct(high['novel_word_share'])} of the words (real held-out text: "
            f"{pct(real['novel_word_share'])}) and distinct word {measures['n']}-grams from "
            f"{pct(low['distinct_ngram_share'])} to {pct(high['distinct_ngram_share'])} (real: "
            f"{pct(real['distinct_ngram_share'])}); look for the low-temperature curve repeating itself and the "
            "high one inventing words")
    verdict = "held" if more_novel and more_diverse else "partly" if more_novel or more_diverse else "not"
    return Claim("Decreasing the temperature from 1 to some lower number (e.g. 0.5) makes the RNN more confident, "
                 "but also more conservative in its samples. Conversely, higher temperatures will give more "
                 "diversity but at cost of more mistakes (e.g. spelling mistakes, etc).",
                 POST + "#paul-graham-generator", ours, verdict)


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


def loop_claim(found: str, looped: bool) -> Claim:
    return Claim("looks like we've reached an infinite loop about startups.", POST + "#paul-graham-generator",
                 f"always taking the likeliest character, our model {found}", "held" if looped else "not")


# --------------------------------------------------------------------------- the play's shape (03)

# A speaker line: capitalised words ("First Citizen", "KING RICHARD III"), then a colon, alone on its line.
_SPEAKER = re.compile(r"^[A-Z][A-Za-z'\-]*(?: [A-Z][A-Za-z'\-]*)*:$")


def speeches(text: str) -> list[list[str]]:
    """The complete blocks between blank lines: the first and last are dropped, a cut may have split them."""
    blocks = [b.split("\n") for b in re.split(r"\n[ \t]*\n", text.strip("\n"))]
    return blocks[1:-1]


def play_shaped(block: Sequence[str]) -> bool:
    """A speaker line, then at least one line of speech that is not itself a speaker line."""
    return (len(block) >= 2 and bool(_SPEAKER.match(block[0].strip()))
            and all(line.strip() and not _SPEAKER.match(line.strip()) for line in block[1:]))


def line_lengths(text: str) -> list[int]:
    """Lengths of the lines of speech (speaker lines and blank lines left out)."""
    return [len(line) for line in text.split("\n") if line.strip() and not _SPEAKER.match(line.strip())]


def ks_distance(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Largest gap between the two empirical distribution functions (0: the same distribution)."""
    if not a or not b:
        return None
    xs = np.sort(np.concatenate([a, b]))
    cdf_a = np.searchsorted(np.sort(a), xs, side="right") / len(a)
    cdf_b = np.searchsorted(np.sort(b), xs, side="right") / len(b)
    return float(np.max(np.abs(cdf_a - cdf_b)))


def play_form(samples: Sequence[str], real_pieces: Sequence[str]) -> dict[str, Any]:
    def measure(texts: Sequence[str]) -> dict[str, Any]:
        blocks = [b for t in texts for b in speeches(t)]
        lengths = [n for t in texts for n in line_lengths(t)]
        return {"speeches": len(blocks), "play_shaped": sum(map(play_shaped, blocks)),
                "share": sum(map(play_shaped, blocks)) / len(blocks) if blocks else None,
                "line_lengths": lengths, "mean_line_length": float(np.mean(lengths)) if lengths else None}

    ours, real = measure(samples), measure(real_pieces)
    return {"samples": ours, "real": real, "line_length_ks": ks_distance(ours["line_lengths"], real["line_lengths"])}


def play_form_claim(form: Mapping[str, Any]) -> Claim:
    ours, real, ks = form["samples"], form["real"], form["line_length_ks"]
    shape = by_ratio(ours["share"], real["share"])
    lines = "held" if ks is not None and ks <= 0.2 else "partly" if ks is not None and ks <= 0.4 else "not"
    verdict = shape if shape == lines else "partly"
    ks_text = "n/a" if ks is None else f"{ks:.2f}"
    sentence = (f"{pct(ours['share'])} of {ours['speeches']} complete sampled speeches have the play's shape (a "
                f"capitalised speaker line ending in ':', then speech, then a blank line); real held-out text: "
                f"{pct(real['share'])} of {real['speeches']}. Lines of speech average "
                f"{ours['mean_line_length'] or 0:.0f} characters (real {real['mean_line_length'] or 0:.0f}); the "
                f"largest gap between the two line-length distributions is {ks_text} (0 would be identical)")
    return Claim("all the RNN knows are charaters, so in particular it samples both speaker's names and the contents.",
                 POST + "#shakespeare", sentence, verdict)


def play_form_table(form: Mapping[str, Any]) -> Shown:
    rows = [{"text": k, "complete speeches": form[k]["speeches"], "play-shaped": form[k]["share"],
             "mean line length": form[k]["mean_line_length"]} for k in ("samples", "real")]
    return table(rows, "the play's shape: samples beside held-out text of the same lengths")


def without_lengths(form: Mapping[str, Any]) -> dict[str, Any]:
    """The record's copy: every line length is in the figure, the summary numbers are enough here."""
    return {**form, **{k: {**form[k], "line_lengths": None} for k in ("samples", "real")}}


def line_length_figure(form: Mapping[str, Any]) -> Any:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.4))
    top = max([*form["samples"]["line_lengths"], *form["real"]["line_lengths"], 1])
    bins = np.arange(0, top + 5, 5)
    for key, color, label in (("real", "gray", "real held-out text"), ("samples", "#3182bd", "samples")):
        if form[key]["line_lengths"]:
            ax.hist(form[key]["line_lengths"], bins=bins, density=True, alpha=0.5, color=color, label=label)
    ax.set_xlabel("characters per line of speech")
    ax.set_ylabel("share of lines (density)")
    ax.set_title("line lengths: samples beside real text", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- wiki structure (04)

_HEADING = re.compile(r"^(=+)\s*[^=\n].*?\s*(=+)\s*$", re.M)
_HEADING_START = re.compile(r"^=+", re.M)
_LIST_ITEM = re.compile(r"^[*#]+\s*\S", re.M)
_URL = re.compile(r"https?://[^\s\]\[|<>\"'}{]+")


def wiki_structure(text: str) -> dict[str, int]:
    """Headings (lines starting with '='; well formed when the '='s on both sides match), list items and
    parentheses, counted in one text."""
    headings = _HEADING_START.findall(text)
    good = [m for m in _HEADING.finditer(text) if len(m.group(1)) == len(m.group(2)) and len(m.group(1)) >= 2]
    depth, paired, stray = 0, 0, 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            if depth:
                depth, paired = depth - 1, paired + 1
            else:
                stray += 1
    return {"headings": len(headings), "headings_well_formed": len(good), "list_items": len(_LIST_ITEM.findall(text)),
            "parens_paired": paired, "parens_unclosed": depth, "parens_stray": stray, "chars": len(text)}


def urls(text: str) -> list[str]:
    return [u.rstrip(".,;:)") for u in _URL.findall(text)]


def wiki_form(samples: Sequence[str], real_pieces: Sequence[str], training_text: str) -> dict[str, Any]:
    def measure(texts: Sequence[str]) -> dict[str, Any]:
        counts = [wiki_structure(t) for t in texts]
        total = {k: sum(c[k] for c in counts) for k in counts[0]} if counts else {}
        found = [u for t in texts for u in urls(t)]
        new = [u for u in found if u not in training_text]
        parens = total.get("parens_paired", 0) + total.get("parens_unclosed", 0) + total.get("parens_stray", 0)
        per_k = 1000 / total["chars"] if total.get("chars") else 0.0
        return {**total, "paren_rate": total["parens_paired"] / parens if parens else None,
                "heading_rate": total["headings_well_formed"] / total["headings"] if total.get("headings") else None,
                "headings_per_1000": total.get("headings", 0) * per_k, "lists_per_1000": total.get("list_items", 0) * per_k,
                "urls": len(found), "urls_not_in_training": len(new),
                "url_new_share": len(new) / len(found) if found else None, "url_examples": new[:5]}

    return {"samples": measure(samples), "real": measure(real_pieces)}


def wiki_form_claims(form: Mapping[str, Any], closure: Mapping[str, Any] | None = None) -> list[Claim]:
    """Parentheses (with headings and lists) and invented URLs; XML tags too given the paper layer's closure counts
    (``{"xml": {"samples": {"rate", "attempts"}, "real": {"rate"}}}``)."""
    ours, real = form["samples"], form["real"]
    parens = Claim("Also, note that the model learns to open and close the parenthesis correctly.",
                   POST + "#wikipedia",
                   f"{pct(ours['paren_rate'])} of the parentheses in the samples pair up (real held-out text "
                   f"{pct(real['paren_rate'])}); heading lines: {ours['headings']}, {pct(ours['heading_rate'])} of them with "
                   f"matching '='s (real {pct(real['heading_rate'])}); and {ours['lists_per_1000']:.1f} list items per "
                   f"1,000 characters (real {real['lists_per_1000']:.1f})",
                   by_ratio(ours["paren_rate"], real["paren_rate"], 0.9, 0.7))
    has_urls = ours["urls"] > 0
    url = Claim("the yahoo url above doesn't actually exist, the model just hallucinated it.", POST + "#wikipedia",
                f"{ours['urls']} URLs sampled, {ours['urls_not_in_training']} of them ({pct(ours['url_new_share'])}) "
                f"nowhere in the training text; real held-out text: {pct(real['url_new_share'])} of {real['urls']} "
                "are new" + (f", e.g. {ours['url_examples'][0]}" if ours["url_examples"] else ""),
                "held" if has_urls and (ours["url_new_share"] or 0) >= 0.5 else "partly" if has_urls else "not")
    found = [parens, url]
    if closure and "xml" in closure:
        xml_ours, xml_real = closure["xml"]["samples"], closure["xml"]["real"]
        found.insert(0, Claim("note that it closes the correct tags appropriately and in the correct nested order.",
                              POST + "#wikipedia",
                              f"{pct(xml_ours['rate'])} of the {xml_ours['attempts']} XML tags the samples open or close "
                              f"pair up in the right order; real held-out text: {pct(xml_real['rate'])}",
                              by_ratio(xml_ours["rate"], xml_real["rate"], 0.9, 0.7)))
    return found


def wiki_form_table(form: Mapping[str, Any]) -> Shown:
    labels = {"paren_rate": "( ) paired right", "heading_rate": "headings with matching '='s",
              "headings_per_1000": "heading lines per 1,000 chars", "lists_per_1000": "list items per 1,000 chars",
              "urls": "URLs", "url_new_share": "URLs not in the training text"}
    return table([{"measure": label, "samples": form["samples"][k], "real text": form["real"][k]}
                  for k, label in labels.items()], "parentheses, headings, lists and URLs: samples beside real text")


# --------------------------------------------------------------------------- LaTeX (05) and C (06)


def latex_claim(ours: Mapping[str, Any], real: Mapping[str, Any]) -> Claim:
    """'Almost compiles': at least half of real text's compile share is 'held', a fifth 'partly'."""
    sentence = (f"{ours['compiled']} of {ours['judged']} complete sampled blocks ({pct(ours['share'])}) compile "
                f"with pdflatex in a Stacks-like preamble; real held-out blocks: {real['compiled']} of "
                f"{real['judged']} ({pct(real['share'])})"
                + (f"; the samples' commonest error: {next(iter(ours['errors']))}" if ours["errors"] else ""))
    return Claim("Amazingly, the resulting sampled Latex almost compiles.", POST + "#algebraic-geometry-latex",
                 sentence, by_ratio(ours["share"], real["share"], 0.5, 0.2))


def environment_claim(ours: Mapping[str, Any], real: Mapping[str, Any]) -> Claim:
    """The post's mistake (an environment closed by another's \\end), counted; held when the samples make it."""
    pairs = ", ".join(f"{a}/{b}" for a, b in ours.get("examples", [])[:3])
    return Claim("the model opens a \\begin{proof} environment but then ends it with a \\end{lemma}.",
                 POST + "#algebraic-geometry-latex",
                 f"{pct(ours['rate'])} of the samples' {ours['attempts']} \\begin/\\end attempts close right (real "
                 f"held-out text {pct(real['rate'])}); {ours['mismatched']} are closed by another environment's \\end"
                 + (f" ({pairs})" if pairs else ""), "held" if ours["mismatched"] else "not")


def code_structure_claim(ours: Mapping[str, Any], real: Mapping[str, Any]) -> Claim:
    brackets = by_ratio(ours["bracket_rate"], real["bracket_rate"], 0.9, 0.7)
    indent = by_ratio(ours["indent_consistent"], real["indent_consistent"], 0.9, 0.7)
    return Claim("It also opens and closes brackets {[ correctly and learns to indent its code very well.",
                 POST + "#linux-source-code",
                 f"{pct(ours['bracket_rate'])} of the samples' brackets pair up (real code {pct(real['bracket_rate'])}); "
                 f"{pct(ours['indent_consistent'])} of their lines are indented as the braces before them predict "
                 f"(real {pct(real['indent_consistent'])})", brackets if brackets == indent else "partly")


def c_claims(measured: Mapping[str, Any]) -> list[Claim]:
    ours, real = measured["samples"], measured["real"]
    rate, real_rate = ours["errors_per_100_lines"], real["errors_per_100_lines"]
    touched, real_touched = ours["error_line_share"], real["error_line_share"]
    # judged on the lines errors touch (one ERROR node can swallow a whole garbled function), with 2 points of
    # slack: real code cut at random also breaks the parser at its ends
    ratio = None if touched is None or real_touched is None else (touched + 0.02) / (real_touched + 0.02)
    syntax = Claim("It is also very good at making very few syntactic errors.", POST + "#linux-source-code",
                   f"tree-sitter finds {0 if rate is None else rate:.1f} syntax errors per 100 sampled lines "
                   f"({ours['errors']} in {ours['lines']}), touching {pct(touched)} of the lines; real held-out "
                   f"kernel code cut the same way: {0 if real_rate is None else real_rate:.1f} per 100 lines, touching "
                   f"{pct(real_touched)}",
                   "not" if ratio is None else "held" if ratio <= 1.5 else "partly" if ratio <= 3 else "not")
    share, real_share = ours["undeclared_share"], real["undeclared_share"]
    examples = ", ".join(ours["undeclared_examples"][:5])
    undeclared = Claim("It often uses undefined variables (e.g. `rw` above)", POST + "#linux-source-code",
                       f"{pct(share)} of the variables a sample uses are declared nowhere in it "
                       f"({ours['undeclared']} of {ours['variables_used']}" + (f", e.g. {examples}" if examples else "")
                       + f"); real code cut the same way: {pct(real_share)}",
                       "not" if not share else "held" if real_share is None or share > real_share else "partly")
    return [syntax, undeclared]


def scale_note(corpus_name: str, chars: int, post_chars: int, batch: int, seq: int, post_batch: int = 100,
               post_seq: int = 100) -> Shown:
    """How our data set and our iterations compare with the post's: an iteration is batch x seq characters."""
    per_iter, post_per_iter = batch * seq, post_batch * post_seq
    text = (f"Our {corpus_name} text is {chars / 1e6:.1f} MB of characters; the post's was about "
            f"{post_chars / 1e6:g} MB. One iteration here is a batch of {batch} sequences of {seq} characters "
            f"({per_iter:,} characters); the post's was {post_batch} x {post_seq} ({post_per_iter:,}), so our "
            f"iteration 100 has seen {100 * per_iter:,} characters where the post's had seen {100 * post_per_iter:,}.")
    return Shown(f"<p>{esc(text)}</p>", text, {"chars": chars, "post_chars": post_chars, "chars_per_iteration": per_iter,
                                               "post_chars_per_iteration": post_per_iter})
