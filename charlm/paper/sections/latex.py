"""05 LaTeX: the algebraic geometry samples, their environments, and whether they compile.

The post trained on the Stacks project's LaTeX source and found samples that "almost compile" (it fixed "a few
issues manually"), with the mistake of a ``\\begin{proof}`` closed by ``\\end{lemma}``. Here environments are
paired on the samples and on held-out text, and complete blocks of both go through pdflatex, repaired
automatically until they compile (:mod:`charlm.analysis.latex`): "almost" is the number of repairs, k.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from charlm.analysis import latex as tex
from charlm.analysis import textstats
from charlm.analysis.display import Shown, esc
from charlm.paper.claims import POST, Claim, Measured, Said, by_ratio, enough, pct, ratio_rule, rule
from charlm.paper.notebook import Corpus, closure_table, reference_pieces

# --------------------------------------------------------------------------- what the post says, and the rules

# "We downloaded the raw Latex source file (a 16MB file)"
POST_CHARS = 16_000_000

MISMATCHED_ENVIRONMENT = Said("the model opens a \\begin{proof} environment but then ends it with a \\end{lemma}.",
                              POST + "#algebraic-geometry-latex")
# Held when the samples make the post's mistake at least this many times.
MISMATCHES_HELD = 1
MIN_ENVIRONMENTS = 10  # \begin/\end attempts in the samples

ALMOST_COMPILES = Said("Amazingly, the resulting sampled Latex almost compiles. We had to step in and fix a few issues "
                       "manually", POST + "#algebraic-geometry-latex")
# "A few issues": a block almost compiles when at most FEW_REPAIRS automatic repairs make it compile. The share of
# blocks that do, as a multiple of real held-out blocks' share (our preamble is not the Stacks project's whole one).
FEW_REPAIRS = 3
COMPILES_HELD, COMPILES_PARTLY = 0.5, 0.2
MIN_BLOCKS = 10  # complete sampled blocks judged

# --------------------------------------------------------------------------- environments


def environment_closure(samples: Sequence[str], reference: str, prime: str = "") -> Shown:
    r"""\begin{X} ... \end{X} in LaTeX samples vs real text; mismatches like proof/lemma listed."""
    ours = textstats.pool([textstats.latex_environment_closure(s) for s in samples])
    real = textstats.pool([textstats.latex_environment_closure(p) for p in reference_pieces(reference, samples, prime)])
    shown = closure_table({r"\begin{X} ... \end{X}": (ours, real)}, r"how often \begin{X} is closed by \end{X}")
    if ours["examples"]:
        pairs = ", ".join(f"\\begin{{{a}}} … \\end{{{b}}}" for a, b in ours["examples"])
        shown = Shown(shown.html + f"<p>mismatched in the samples: <code>{esc(pairs)}</code></p>",
                      shown.plain + f"\nmismatched in the samples: {pairs}")
    return Measured([shown], {"samples": ours, "real": real}, [environment_claim(ours, real)])


def environment_claim(ours: Mapping[str, Any], real: Mapping[str, Any]) -> Claim:
    """The post's mistake (an environment closed by another's \\end), counted; held when the samples make it."""
    pairs = ", ".join(f"{a}/{b}" for a, b in ours.get("examples", [])[:3])
    return Claim.of(
        MISMATCHED_ENVIRONMENT,
        f"{pct(ours['rate'])} of the samples' {ours['attempts']} \\begin/\\end attempts close right (real held-out "
        f"text {pct(real['rate'])}); {ours['mismatched']} are closed by another environment's \\end"
        + (f" ({pairs})" if pairs else ""),
        enough("held" if ours["mismatched"] >= MISMATCHES_HELD else "not", ours["attempts"], MIN_ENVIRONMENTS),
        rule(f"at least {MISMATCHES_HELD} sampled environment is closed by another's \\end", None, MIN_ENVIRONMENTS,
             "\\begin/\\end attempts sampled"),
        ours["mismatched"], ours["attempts"])


# --------------------------------------------------------------------------- through pdflatex


def measure_compiles(samples: Sequence[str], corpus: Corpus, prime: str = "", path: Any = None) -> Shown:
    """Blocks of the samples and of held-out text through pdflatex, each repaired automatically until it compiles;
    the best sampled block (fewest repairs, then longest) rendered."""
    if tex.tex_engine() is None:
        skipped = tex.skipped()
        return Measured([skipped], skipped.data, [])
    ours = tex.compile_share(samples)
    # Real blocks from one held-out stretch: pieces as short as the samples hold too few complete blocks.
    stretch = reference_pieces(corpus.split("test"), ["x" * 100_000], prime)
    real = tex.compile_share(stretch, limit=max(10, ours["judged"]))
    parts = [tex.compile_table(ours, real), tex.repairs_table(ours, real), tex.rendered(ours["best"], path)]
    return Measured(parts, {"samples": ours, "real": real}, [latex_claim(ours, real)])


def within_few(measured: Mapping[str, Any]) -> float | None:
    """The share of judged blocks that compile after at most FEW_REPAIRS repairs."""
    ks = measured["repairs"]
    return sum(k is not None and k <= FEW_REPAIRS for k in ks) / len(ks) if ks else None


def latex_claim(ours: Mapping[str, Any], real: Mapping[str, Any]) -> Claim:
    """'Almost compiles': the share of sampled blocks that compile after at most FEW_REPAIRS automatic repairs,
    beside real held-out blocks' share."""
    few, real_few = within_few(ours), within_few(real)
    ks = ours["repairs"]
    counts = ", ".join(f"k = {k}: {n}" for k, n in ours["k_counts"].items())
    sentence = (f"of {ours['judged']} complete sampled blocks, {ours['compiled']} compile as sampled and "
                f"{sum(k is not None and k <= FEW_REPAIRS for k in ks)} ({pct(few)}) after at most {FEW_REPAIRS} "
                f"automatic repairs ({counts or 'none compile'}; {ours['not_within']} not within "
                f"{ours['max_repairs']}); real held-out blocks: {pct(real_few)} within {FEW_REPAIRS}, {real['compiled']} "
                f"of {real['judged']} as written"
                + (f"; the samples' commonest first error: {next(iter(ours['errors']))}" if ours["errors"] else ""))
    return Claim.of(ALMOST_COMPILES, sentence,
                    enough(by_ratio(few, real_few, COMPILES_HELD, COMPILES_PARTLY), ours["judged"], MIN_BLOCKS),
                    ratio_rule(f"the share of complete blocks that compile after at most {FEW_REPAIRS} automatic repairs",
                               COMPILES_HELD, COMPILES_PARTLY, MIN_BLOCKS, "complete sampled blocks"),
                    few, ours["judged"])
