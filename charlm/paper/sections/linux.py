"""06 Linux: the kernel-source samples' brackets, indentation, syntax errors and undeclared variables.

The post's C samples open and close brackets correctly, indent well, make "very few syntactic errors", and use
undefined variables. Here each is counted on the samples and on held-out kernel code of the same lengths;
syntax through tree-sitter's C grammar (:mod:`charlm.analysis.csyntax`).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from charlm.analysis import csyntax, textstats
from charlm.analysis.display import Shown, table
from charlm.paper.claims import POST, Claim, Measured, Said, by_ratio, enough, pct, rule
from charlm.paper.notebook import Corpus, reference_pieces

# --------------------------------------------------------------------------- what the post says, and the rules

BRACKETS_AND_INDENT = Said("It also opens and closes brackets {[ correctly and learns to indent its code very well.",
                           POST + "#linux-source-code")
# The share of brackets paired, and of lines indented as the braces predict, as multiples of real code's.
STRUCTURE_HELD, STRUCTURE_PARTLY = 0.9, 0.7
MIN_BRACKETS = 20  # brackets in the samples
STRUCTURE_RULE = rule(f"both the share of brackets paired and the share of lines indented as the braces predict are at "
                      f"least {STRUCTURE_HELD:g} x real code's", f"both are at least {STRUCTURE_PARTLY:g} x",
                      MIN_BRACKETS, "brackets sampled")

FEW_SYNTAX_ERRORS = Said("It is also very good at making very few syntactic errors.", POST + "#linux-source-code")
# Two measures of the syntax errors tree-sitter finds, each as a multiple of real code's: errors per 100 lines, and
# the share of lines an error touches (one ERROR node can swallow a whole garbled function). The worse of the two
# is judged: at most SYNTAX_HELD x real code's, or SYNTAX_PARTLY x.
SYNTAX_HELD, SYNTAX_PARTLY = 1.5, 3.0
# Real code cut at random also breaks the parser at its ends: slack added to both sides of each ratio.
RATE_SLACK = 1.0  # errors per 100 lines
SLACK = 0.02  # share of lines touched
MIN_LINES = 100  # sampled lines parsed
SYNTAX_RULE = rule(f"errors per 100 lines and the share of lines errors touch (each with {RATE_SLACK:g} error per 100 "
                   f"lines or {100 * SLACK:.0f} points of lines added to both sides) are both at most {SYNTAX_HELD:g} x "
                   "real code's", f"both at most {SYNTAX_PARTLY:g} x", MIN_LINES, "sampled lines")

UNDEFINED_VARIABLES = Said("It often uses undefined variables (e.g. rw above)", POST + "#linux-source-code")
# "Often": the share of used variables declared nowhere in the sample, as a multiple of real code's (cut the same
# way, real code uses names declared outside the piece too).
UNDECLARED_HELD = 1.5
MIN_VARIABLES = 20  # variables the samples use

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
    verdict = "held" if brackets == indent == "held" else "not" if "not" in (brackets, indent) else "partly"
    return Claim.of(
        BRACKETS_AND_INDENT,
        f"{pct(ours['bracket_rate'])} of the samples' {ours['brackets']['attempts']} brackets pair up (real code "
        f"{pct(real['bracket_rate'])}); {pct(ours['indent_consistent'])} of their lines are indented as the braces "
        f"before them predict (real {pct(real['indent_consistent'])})",
        enough(verdict, ours["brackets"]["attempts"], MIN_BRACKETS), STRUCTURE_RULE, ours["bracket_rate"],
        ours["brackets"]["attempts"])


# --------------------------------------------------------------------------- syntax and undeclared variables


def measure_c_parse(samples: Sequence[str], corpus: Corpus, prime: str = "") -> Shown:
    measured = csyntax.compare(samples, reference_pieces(corpus.split("test"), samples, prime))
    return Measured([csyntax.compare_table(measured)], measured, c_claims(measured))


def _worse_ratio(ours: Mapping[str, Any], real: Mapping[str, Any]) -> float | None:
    """The larger of the two syntax-error ratios (samples over real code, slack added to both sides)."""
    if ours["errors_per_100_lines"] is None or real["errors_per_100_lines"] is None:
        return None
    by_rate = (ours["errors_per_100_lines"] + RATE_SLACK) / (real["errors_per_100_lines"] + RATE_SLACK)
    by_lines = (ours["error_line_share"] + SLACK) / (real["error_line_share"] + SLACK)
    return max(by_rate, by_lines)


def c_claims(measured: Mapping[str, Any]) -> list[Claim]:
    ours, real = measured["samples"], measured["real"]
    rate, real_rate = ours["errors_per_100_lines"], real["errors_per_100_lines"]
    touched, real_touched = ours["error_line_share"], real["error_line_share"]
    ratio = _worse_ratio(ours, real)
    verdict = "not" if ratio is None else "held" if ratio <= SYNTAX_HELD else "partly" if ratio <= SYNTAX_PARTLY else "not"
    syntax = Claim.of(
        FEW_SYNTAX_ERRORS,
        f"tree-sitter finds {0 if rate is None else rate:.1f} syntax errors per 100 sampled lines "
        f"({ours['errors']} in {ours['lines']}), touching {pct(touched)} of the lines; real held-out "
        f"kernel code cut the same way: {0 if real_rate is None else real_rate:.1f} per 100 lines, touching "
        f"{pct(real_touched)}" + ("" if ratio is None else f"; the worse ratio is {ratio:.1f} x"),
        enough(verdict, ours["lines"], MIN_LINES), SYNTAX_RULE, ratio, ours["lines"])
    share, real_share = ours["undeclared_share"], real["undeclared_share"]
    examples = ", ".join(ours["undeclared_examples"][:5])
    if not share:
        verdict = "not"
    elif real_share is None:  # real code used no variable: no yardstick beside the samples'
        verdict = "partly"
    else:
        verdict = "held" if share >= UNDECLARED_HELD * real_share else "partly" if share > real_share else "not"
    undeclared = Claim.of(
        UNDEFINED_VARIABLES,
        f"{pct(share)} of the variables a sample uses are declared nowhere in it "
        f"({ours['undeclared']} of {ours['variables_used']}" + (f", e.g. {examples}" if examples else "")
        + f"); real code cut the same way: {pct(real_share)}",
        enough(verdict, ours["variables_used"], MIN_VARIABLES),
        rule(f"the share of the samples' variables declared nowhere in them is at least {UNDECLARED_HELD:g} x real "
             "code's", "it is above real code's", MIN_VARIABLES, "variables used"),
        share, ours["variables_used"])
    return [syntax, undeclared]
