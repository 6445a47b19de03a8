"""06 Linux: the kernel-source samples' brackets, indentation, syntax errors and undeclared variables.

The post's C samples open and close brackets correctly, indent well, make "very few syntactic errors", and use
undefined variables. Here each is counted on the samples and on held-out kernel code of the same lengths;
syntax through tree-sitter's C grammar (:mod:`charlm.analysis.csyntax`).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from charlm.analysis import csyntax, textstats
from charlm.analysis.display import Shown, table
from charlm.paper.claims import POST, Claim, Measured, Said, by_ratio, pct, ratio_rule
from charlm.paper.notebook import Corpus, reference_pieces

# --------------------------------------------------------------------------- what the post says, and the rules

BRACKETS_AND_INDENT = Said("It also opens and closes brackets `{[` correctly and learns to indent its code very well.",
                           POST + "#linux-source-code")
# The share of brackets paired, and of lines indented as the braces predict, as multiples of real code's.
STRUCTURE_HELD, STRUCTURE_PARTLY = 0.9, 0.7

FEW_SYNTAX_ERRORS = Said("It is also very good at making very few syntactic errors.", POST + "#linux-source-code")
# The share of sampled lines a syntax error touches, over real code's (each with SLACK added), at most these.
SYNTAX_HELD, SYNTAX_PARTLY = 1.5, 3.0
# Real code cut at random also breaks the parser at its ends: 2 points of slack on both sides of the ratio.
SLACK = 0.02

UNDEFINED_VARIABLES = Said("It often uses undefined variables (e.g. `rw` above)", POST + "#linux-source-code")

# --------------------------------------------------------------------------- brackets and indentation


def code_structure(samples: Sequence[str], reference: str, prime: str = "") -> Shown:
    """C samples vs real kernel code: bracket pairing, whole samples balanced, indentation that follows braces."""
    pieces = reference_pieces(reference, samples, prime)

    def measure(texts: Sequence[str]) -> dict[str, Any]:
        brackets = textstats.pool([textstats.c_bracket_balance(t).overall for t in texts])
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
    return Measured([shown], {"samples": ours, "real": real}, [code_structure_claim(ours, real)])


def code_structure_claim(ours: Mapping[str, Any], real: Mapping[str, Any]) -> Claim:
    brackets = by_ratio(ours["bracket_rate"], real["bracket_rate"], STRUCTURE_HELD, STRUCTURE_PARTLY)
    indent = by_ratio(ours["indent_consistent"], real["indent_consistent"], STRUCTURE_HELD, STRUCTURE_PARTLY)
    return Claim.of(
        BRACKETS_AND_INDENT,
        f"{pct(ours['bracket_rate'])} of the samples' brackets pair up (real code {pct(real['bracket_rate'])}); "
        f"{pct(ours['indent_consistent'])} of their lines are indented as the braces before them predict "
        f"(real {pct(real['indent_consistent'])})", brackets if brackets == indent else "partly",
        ratio_rule("both the share of brackets paired and the share of lines indented as the braces predict",
                   STRUCTURE_HELD, STRUCTURE_PARTLY) + "; partly when only one is held",
        ours["bracket_rate"], ours["brackets"]["attempts"])


# --------------------------------------------------------------------------- syntax and undeclared variables


def measure_c_parse(samples: Sequence[str], corpus: Corpus, prime: str = "") -> Shown:
    measured = csyntax.compare(samples, reference_pieces(corpus.split("test"), samples, prime))
    return Measured([csyntax.compare_table(measured)], measured, c_claims(measured))


def c_claims(measured: Mapping[str, Any]) -> list[Claim]:
    ours, real = measured["samples"], measured["real"]
    rate, real_rate = ours["errors_per_100_lines"], real["errors_per_100_lines"]
    touched, real_touched = ours["error_line_share"], real["error_line_share"]
    # judged on the lines errors touch (one ERROR node can swallow a whole garbled function)
    ratio = None if touched is None or real_touched is None else (touched + SLACK) / (real_touched + SLACK)
    syntax = Claim.of(
        FEW_SYNTAX_ERRORS,
        f"tree-sitter finds {0 if rate is None else rate:.1f} syntax errors per 100 sampled lines "
        f"({ours['errors']} in {ours['lines']}), touching {pct(touched)} of the lines; real held-out "
        f"kernel code cut the same way: {0 if real_rate is None else real_rate:.1f} per 100 lines, touching "
        f"{pct(real_touched)}",
        "not" if ratio is None else "held" if ratio <= SYNTAX_HELD else "partly" if ratio <= SYNTAX_PARTLY else "not",
        f"held when the share of lines an error touches is at most {SYNTAX_HELD:g} x real code's, partly at most "
        f"{SYNTAX_PARTLY:g} x ({100 * SLACK:.0f} points added to both)", ratio, ours["lines"])
    share, real_share = ours["undeclared_share"], real["undeclared_share"]
    examples = ", ".join(ours["undeclared_examples"][:5])
    undeclared = Claim.of(
        UNDEFINED_VARIABLES,
        f"{pct(share)} of the variables a sample uses are declared nowhere in it "
        f"({ours['undeclared']} of {ours['variables_used']}" + (f", e.g. {examples}" if examples else "")
        + f"); real code cut the same way: {pct(real_share)}",
        "not" if not share else "held" if real_share is None or share > real_share else "partly",
        "held when a larger share of the samples' variables is declared nowhere in them than of real code's; "
        "partly when some are", share, ours["variables_used"])
    return [syntax, undeclared]
