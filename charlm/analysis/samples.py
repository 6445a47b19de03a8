"""Samples beside real text: every count is made twice, on the model's samples and on pieces of held-out text of
the same lengths, because a count only means something beside what real text scores under the same rule (a
random cut through a LaTeX file leaves environments unclosed too).
"""

from __future__ import annotations

from typing import Any, Sequence

from charlm.analysis import textstats
from charlm.analysis.claims import code_structure_claim, environment_claim, with_claims
from charlm.analysis.display import Shown, esc, table


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


def reference_pieces(text: str, samples: Sequence[str], start: str = "") -> list[str]:
    """Pieces of real text with the lengths of the samples: the yardstick for every count.

    With ``start`` (the samples' prime) each piece begins where the real text has it, as the samples do;
    without, or where the text has too few, consecutive pieces.
    """
    pieces, pos = [], 0
    for s in samples:
        at = text.find(start, pos) if start else -1
        begin = at if at >= 0 else pos
        piece = text[begin:begin + len(s)]
        if not piece:
            break
        pieces.append(piece)
        pos = begin + len(piece)
    return pieces


def pool(closures: Sequence[textstats.Closure]) -> dict[str, Any]:
    """Counts of several texts added up, and the pooled rate."""
    keys = ("matched", "mismatched", "unclosed", "stray")
    out: dict[str, Any] = {k: sum(getattr(c, k) for c in closures) for k in keys}
    attempts = sum(out.values())
    out["attempts"], out["rate"] = attempts, (out["matched"] / attempts if attempts else None)
    out["examples"] = [list(e) for c in closures for e in c.examples][:10]
    return out


def _compare(rows_of: dict[str, tuple[dict, dict]], title: str) -> Shown:
    rows = []
    for label, (ours, real) in rows_of.items():
        rows.append({"construct": label, "samples: closed right": ours["rate"], "samples: attempts": ours["attempts"],
                     "mismatched": ours["mismatched"], "unclosed": ours["unclosed"], "stray": ours["stray"],
                     "real text: closed right": real["rate"]})
    return table(rows, title)


def markup_closure(samples: Sequence[str], reference: str, prime: str = "") -> Shown:
    """[[links]], {{templates}} and XML tags in wiki samples vs real text of the same lengths."""
    ours = [textstats.wiki_markup_closure(s) for s in samples]
    real = [textstats.wiki_markup_closure(p) for p in reference_pieces(reference, samples, prime)]
    data = {kind: (pool([getattr(r, kind) for r in ours]), pool([getattr(r, kind) for r in real]))
            for kind in ("links", "templates", "xml")}
    shown = _compare({"[[ ]] links": data["links"], "{{ }} templates": data["templates"], "<tag> </tag>": data["xml"]},
                     "how often markup opened in a sample is closed correctly")
    shown.data = {k: {"samples": v[0], "real": v[1]} for k, v in data.items()}
    return shown


def environment_closure(samples: Sequence[str], reference: str, prime: str = "") -> Shown:
    r"""\begin{X} ... \end{X} in LaTeX samples vs real text; mismatches like proof/lemma listed."""
    ours = pool([textstats.latex_environment_closure(s) for s in samples])
    real = pool([textstats.latex_environment_closure(p) for p in reference_pieces(reference, samples, prime)])
    shown = _compare({r"\begin{X} ... \end{X}": (ours, real)}, r"how often \begin{X} is closed by \end{X}")
    if ours["examples"]:
        pairs = ", ".join(f"\\begin{{{a}}} … \\end{{{b}}}" for a, b in ours["examples"])
        shown = Shown(shown.html + f"<p>mismatched in the samples: <code>{esc(pairs)}</code></p>",
                      shown.plain + f"\nmismatched in the samples: {pairs}")
    return with_claims([shown], {"samples": ours, "real": real}, [environment_claim(ours, real)])


def code_structure(samples: Sequence[str], reference: str, prime: str = "") -> Shown:
    """C samples vs real kernel code: bracket pairing, whole samples balanced, indentation that follows braces."""
    pieces = reference_pieces(reference, samples, prime)

    def measure(texts: Sequence[str]) -> dict[str, Any]:
        brackets = pool([textstats.c_bracket_balance(t).overall for t in texts])
        indents = [textstats.indentation_consistency(t) for t in texts]
        judged, indented = sum(i.judged for i in indents), sum(i.indented for i in indents)
        return {"bracket_rate": brackets["rate"], "brackets": brackets,
                "share_balanced": textstats.share_balanced(texts),
                "indent_consistent": sum(i.consistent for i in indents) / judged if judged else None,
                "tab_share": sum(i.tabs for i in indents) / indented if indented else None}

    ours, real = measure(samples), measure(pieces)
    labels = {"bracket_rate": "brackets (), [], {} paired right", "share_balanced": "texts with all brackets balanced",
              "indent_consistent": "lines indented as the braces predict", "tab_share": "indented lines using tabs"}
    rows = [{"measure": label, "samples": ours[k], "real code": real[k]} for k, label in labels.items()]
    shown = table(rows, "structure of the C samples beside real kernel code of the same lengths")
    return with_claims([shown], {"samples": ours, "real": real}, [code_structure_claim(ours, real)])
