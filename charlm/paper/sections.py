"""What particular sections of the post show, where a run or a corpus is needed: temperature, names, evolution,
the post's claims measured. Notebooks call these as ``sx.*`` beside :mod:`charlm.paper.notebook`; what needs
neither lives in :mod:`charlm.analysis` and is re-exported here (the helo steps, samples beside real text).
"""

from __future__ import annotations

import time
from typing import Any, Sequence

from charlm.analysis import claims, csyntax, latex, textstats
from charlm.analysis.display import Shown, esc, figure_png, loss_figure, pre, rows_of_text, save_png, show_figure, side_by_side, table
from charlm.analysis import samples, steps
from charlm.errors import CharlmError
from charlm.paper.notebook import Corpus, generate, references
from charlm.run import RunResult

# Re-exported: the notebooks call them as sx.* like the rest of their section's helpers.
initial_model, step_through, step_trace, helo_figure = (steps.initial_model, steps.step_through, steps.step_trace,
                                                        steps.helo_figure)
find_loop, reference_pieces = samples.find_loop, samples.reference_pieces
markup_closure, environment_closure, code_structure = (samples.markup_closure, samples.environment_closure,
                                                       samples.code_structure)

# --------------------------------------------------------------------------- 02 temperature


def temperature_sweep(run: RunResult, temperatures: Sequence[float], length: int = 300, prime: str = "",
                      seed: int = 0) -> Shown:
    """The same seed at each temperature, side by side."""
    columns = {f"T = {t:g}": generate(run, 1, length, t, prime, seed)[0] for t in temperatures}
    return side_by_side(columns, f"temperature sweep, {length} characters each, seed {seed}")


def argmax_loop(run: RunResult, length: int = 600, prime: str = "") -> Shown:
    """Temperature near zero: always the likeliest character, which sooner or later repeats itself forever."""
    text = generate(run, 1, length, 0.0, prime)[0]
    loop = find_loop(text)
    if loop is None:
        verdict = f"no repeating cycle within {length} characters"
    else:
        after = max(0, loop[0] - len(prime))
        verdict = f"falls into a loop after {after} new characters, repeating a {len(loop[1])}-character cycle"
    data = {"text": text, "loop_start": loop[0] if loop else None, "cycle": loop[1] if loop else None}
    return claims.with_claims([Shown(f"<p><b>{esc(verdict)}</b></p>{pre(text)}", f"{verdict}\n{text}")], data,
                              [claims.loop_claim(verdict, loop is not None)])


def temperature_explorer(run: RunResult, length: int = 300, prime: str = "", seed: int | None = None) -> Any:
    """The live temperature slider (charlm.analysis.widgets); a headless run shows the static sweep instead."""
    from charlm.analysis.widgets import temperature_explorer as explorer

    return explorer(run.model, run.vocab, length=length, prime=prime, seed=seed)


def ngram_baseline(corpus: Corpus, order: int, length: int = 500, prime: str = "", seed: int = 0) -> dict[str, Any]:
    """Kneser-Ney n-gram on the training split, scored on the validation split, and a sample from it."""
    from charlm.analysis.ngram import NGramModel

    train_text, val_text = corpus.split("train"), corpus.split("val")
    start = time.perf_counter()
    model = NGramModel.fit(train_text, order)
    fit_seconds = time.perf_counter() - start
    return {"order": order, "val_loss": model.loss(val_text, context=train_text), "fit_seconds": fit_seconds,
            "sample": prime + model.sample(length, 1.0, prime or "\n", seed)}  # "\n": start a line, as the LSTM does


# --------------------------------------------------------------------------- 07 names


def sample_names(run: RunResult, n: int, temperature: float = 1.0, seed: int = 0, streams: int = 8) -> list[str]:
    """``n`` names, one per generated line; the last, possibly cut-off line of each stream is dropped. A model that
    seldom ends a line may give fewer than ``n``; one that never does is an error."""
    names: list[str] = []
    length = max(64, int(n / streams * 9))
    # A model that never ends a line would loop forever: give up after 20 draws (one or two usually suffice).
    attempts = 20
    for attempt in range(attempts):
        if len(names) >= n:
            break
        for text in generate(run, streams, length, temperature, "", seed + attempt):
            names += [line.strip() for line in text.split("\n")[:-1] if line.strip()]
    if not names:
        raise CharlmError(f"the model wrote no complete line in {attempts * streams * length:,} characters, so no "
                          f"names; it never ends a line: train it longer")
    return names[:n]


def name_novelty(names: Sequence[str], corpus: Corpus) -> Shown:
    """Share of sampled names not in the training split (what the post counted), and not in the data set at all."""
    vs_train = textstats.novelty(["\n".join(names)], corpus.split("train"))
    vs_all = textstats.novelty(["\n".join(names)], corpus.text)
    rows = [{"compared with": "training split", "names sampled": vs_train.total, "not in it": vs_train.novel,
             "share new": vs_train.rate},
            {"compared with": "whole data set", "names sampled": vs_all.total, "not in it": vs_all.novel,
             "share new": vs_all.rate}]
    shown = table(rows, "invented names (the post: about 90% not in the training data)")
    examples = ", ".join(vs_all.examples)
    shown = Shown(shown.html + f"<p>new names, for example: {esc(examples)}</p>",
                  shown.plain + f"\nnew names, for example: {examples}")
    shown.data = {"novelty": vs_train.as_dict(), "novelty_vs_all": vs_all.as_dict(), "novel_rate": vs_train.rate}
    return shown


# --------------------------------------------------------------------------- 08 evolution


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


# --------------------------------------------------------------------------- 02-06 the post's claims, measured
# The measures, tables and verdicts are charlm.analysis.claims (latex, csyntax); here only what needs a run or a
# corpus: sampling, and held-out pieces of the samples' lengths (reference_pieces).


def scale_note(run: RunResult, corpus: Corpus, post_chars: int) -> Shown:
    cfg = run.train_config
    return claims.scale_note(corpus.name, len(corpus.text), post_chars, cfg.batch_size, cfg.seq_length)


def temperature_claim(run: RunResult, corpus: Corpus, temperatures: Sequence[float], n: int, length: int,
                      prime: str = "", seed: int = 0, path: Any = None) -> Shown:
    """Invented words and repetition against temperature, n samples each, beside held-out text."""
    by_t = {t: generate(run, n, length, t, prime, seed) for t in temperatures}
    m = claims.temperature_measures(by_t, corpus.split("train"),
                                    reference_pieces(corpus.split("test"), by_t[temperatures[0]], prime))
    show_figure(claims.temperature_figure(m), path)
    return claims.with_claims([claims.temperature_table(m, length)], m, [claims.temperature_claim(m)])


def play_form_claim(samples: Sequence[str], corpus: Corpus, path: Any = None) -> Shown:
    form = claims.play_form(samples, reference_pieces(corpus.split("test"), samples))
    show_figure(claims.line_length_figure(form), path)
    return claims.with_claims([claims.play_form_table(form)], claims.without_lengths(form), [claims.play_form_claim(form)])


def wiki_claims(samples: Sequence[str], corpus: Corpus, prime: str = "", closure: Any = None) -> Shown:
    """Parentheses, headings, lists and URLs; with ``markup_closure``'s data, the verdict on XML tags too."""
    form = claims.wiki_form(samples, reference_pieces(corpus.split("test"), samples, prime), corpus.split("train"))
    return claims.with_claims([claims.wiki_form_table(form)], form, claims.wiki_form_claims(form, closure))


def latex_compiles(samples: Sequence[str], corpus: Corpus, prime: str = "", path: Any = None) -> Shown:
    """Blocks of the samples and of held-out text through pdflatex; the longest compiled sample block rendered."""
    if latex.tex_engine() is None:
        return latex.skipped()
    ours = latex.compile_share(samples)
    # Real blocks from one held-out stretch: pieces as short as the samples hold too few complete blocks.
    stretch = reference_pieces(corpus.split("test"), ["x" * 100_000], prime)
    real = latex.compile_share(stretch, limit=max(10, ours["judged"]))
    parts = [latex.compile_table(ours, real), latex.rendered(ours["longest_compiled"], path)]
    return claims.with_claims(parts, {"samples": ours, "real": real}, [claims.latex_claim(ours, real)])


def c_parse(samples: Sequence[str], corpus: Corpus, prime: str = "") -> Shown:
    measured = csyntax.compare(samples, reference_pieces(corpus.split("test"), samples, prime))
    return claims.with_claims([csyntax.compare_table(measured)], measured, claims.c_claims(measured))
