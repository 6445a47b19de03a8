"""What particular sections of the post show: the helo diagram, temperature, closure counts, novelty, evolution.

The notebooks call these next to :mod:`charlm.paper.notebook` (the part every section shares). Every measure is
made twice, on the model's samples and on pieces of real held-out text of the same lengths, because a
count only means something beside what the real text scores under the same rule (a random cut through a
LaTeX file leaves environments unclosed too).
"""

from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np
import torch

from charlm.analysis import claims, csyntax, latex, textstats
from charlm.analysis.display import Shown, esc, figure_png, loss_figure, pre, rows_of_text, save_png, show_figure, side_by_side, table
from charlm.errors import CharlmError
from charlm.model import CharRNN, ModelConfig
from charlm.paper.notebook import Corpus, generate, references
from charlm.run import RunResult

# --------------------------------------------------------------------------- 01 helo


def initial_model(run: RunResult, seed: int) -> CharRNN:
    """The weights training started from: the same seed and config rebuild them exactly (as charlm.run does)."""
    torch.manual_seed(seed)
    return CharRNN(ModelConfig(vocab_size=len(run.vocab), **{k: v for k, v in run.model.config.to_dict().items()
                                                            if k != "vocab_size"})).eval()


@torch.no_grad()
def step_through(model: CharRNN, vocab: Any, text: str) -> tuple[np.ndarray, list[np.ndarray]]:
    """Feed ``text`` one character at a time with ``model.step``: (T, V) next-character probabilities and the
    hidden state after each character."""
    model.eval()
    device = next(model.parameters()).device
    state, probs, hidden = None, [], []
    for ch in text:
        logits, state = model.step(torch.tensor([vocab.index(ch)], device=device), state)
        probs.append(torch.softmax(logits.float(), dim=-1)[0].cpu().numpy())
        h = state[0] if isinstance(state, tuple) else state
        hidden.append(h[-1, 0].float().cpu().numpy())
    return np.stack(probs), hidden


def step_trace(model: CharRNN, vocab: Any, text: str = "hell", target: str = "ello") -> Shown:
    """The step API at work: input, hidden state, and the most confident next character at each step."""
    probs, hidden = step_through(model, vocab, text)
    rows = []
    for t, (ch, p, h) in enumerate(zip(text, probs, hidden)):
        best = int(p.argmax())
        rows.append({"step": t + 1, "input": repr(ch), "hidden state h": "[" + ", ".join(f"{v:+.2f}" for v in h) + "]",
                     "most confident": repr(vocab.chars[best]), "confidence": float(p[best]),
                     "target": repr(target[t]), "P(target)": float(p[vocab.index(target[t])])})
    return table(rows, f"model.step, one character at a time: {text!r} -> {target!r}")


def helo_figure(before: CharRNN, after: CharRNN, run: RunResult, text: str = "hell", target: str = "ello",
                path: Any = None) -> None:
    """The post's diagram, as numbers: output confidences for each input step before and after training
    (target outlined), and the loss falling to near zero."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    vocab = run.vocab
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), gridspec_kw={"width_ratios": [1, 1, 1.4]})
    for ax, model, label in ((axes[0], before, "before training"), (axes[1], after, "after training")):
        probs, _ = step_through(model, vocab, text)  # (T, V)
        grid = probs.T  # rows: characters, columns: steps
        ax.imshow(grid, cmap="Blues", vmin=0, vmax=1, aspect="auto")
        for v in range(grid.shape[0]):
            for t in range(grid.shape[1]):
                ax.text(t, v, f"{grid[v, t]:.2f}", ha="center", va="center", fontsize=10,
                        color="white" if grid[v, t] > 0.6 else "black")
        for t, ch in enumerate(target):
            ax.add_patch(Rectangle((t - 0.5, vocab.index(ch) - 0.5), 1, 1, fill=False, ec="#31a354", lw=3))
        loss = -np.mean([np.log(probs[t, vocab.index(ch)]) for t, ch in enumerate(target)])
        ax.set_xticks(range(len(text)), [f"in '{a}'\nwant '{b}'" for a, b in zip(text, target)])
        ax.set_yticks(range(len(vocab)), [f"'{c}'" for c in vocab.chars])
        ax.set_title(f"{label}: loss {loss:.3f}", fontsize=11)
        ax.set_ylabel("confidence in next character" if label.startswith("before") else "")
    loss_figure(run, ax=axes[2])
    axes[2].set_title("training loss on 'hello'", fontsize=11)
    axes[2].set_yscale("log")
    fig.suptitle("output confidences for the input 'hell' (green: the character that should come next)", fontsize=11)
    fig.tight_layout()
    show_figure(fig, path)


# --------------------------------------------------------------------------- 02 temperature


def temperature_sweep(run: RunResult, temperatures: Sequence[float], length: int = 300, prime: str = "",
                      seed: int = 0) -> Shown:
    """The same seed at each temperature, side by side."""
    columns = {f"T = {t:g}": generate(run, 1, length, t, prime, seed)[0] for t in temperatures}
    return side_by_side(columns, f"temperature sweep, {length} characters each, seed {seed}")


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


# --------------------------------------------------------------------------- 04-06 do the samples close what they open?


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
    return claims.with_claims([shown], {"samples": ours, "real": real}, [claims.environment_claim(ours, real)])


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
    return claims.with_claims([shown], {"samples": ours, "real": real}, [claims.code_structure_claim(ours, real)])


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
