r"""Does sampled LaTeX compile? Each block is run through a real TeX engine (pdflatex) in a Stacks-like preamble.

A *block* is what lies between two blank lines at environment depth 0 (``\begin``/``\end`` counted, whatever
their names), so a lemma with a multi-paragraph proof is one block and ``\begin{proof} ... \end{lemma}``
stays one block that TeX rejects. The last block of a text is left out: sampling (or cutting real text)
stopped in it. Blocks that draw diagrams with ``\xymatrix`` need xy-pic, which the small Debian TeX that CI
installs (texlive-latex-base, ``.ci/install-tex``) lacks: they are counted apart, never as failures.

The preamble is modelled on the Stacks project's own (``preamble.tex``): amsmath, amssymb, amsthm, hyperref,
its theorem environments and the operator macros its text uses most.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from charlm.analysis.display import Shown, esc, image_of, save_png, table
from charlm.errors import CharlmError

_OPERATORS = ("Spec", "Proj", "Hom", "Mor", "Ker", "Coker", "Ob", "Ext", "Tor", "Pic", "Sch", "Sh", "QCoh",
              "SheafHom", "NL", "CH", "Supp", "Ass", "Der", "Gal", "Aut", "Isom", "Mod", "Sym", "Cov", "id",
              "Frac", "Br", "colim", "Qcoh", "Coh", "Fun", "Tot", "Cone", "Obj", "rank",
              "Sets", "Ab", "Map", "Bl", "Hilb", "Quot", "Jac", "Art", "depth", "trdeg", "Div", "Pic", "Tr")

STACKS_PREAMBLE = "\n".join([
    r"\documentclass{amsart}",
    r"\usepackage{amssymb}",
    r"\usepackage{amsthm}",
    r"\usepackage{amscd}",
    r"\usepackage{hyperref}",
    r"\theoremstyle{plain}",
    *(rf"\newtheorem{{{env}}}[subsection]{{{env.capitalize()}}}"
      for env in ("theorem", "proposition", "lemma")),
    r"\theoremstyle{definition}",
    *(rf"\newtheorem{{{env}}}[subsection]{{{env.capitalize()}}}"
      for env in ("definition", "example", "exercise", "situation")),
    r"\theoremstyle{remark}",
    *(rf"\newtheorem{{{env}}}[subsection]{{{env.capitalize()}}}" for env in ("remark", "remarks")),
    r"\newenvironment{reference}{\noindent\textit{Reference:} }{}",
    r"\newenvironment{slogan}{\noindent\textit{Slogan:} }{}",
    r"\newenvironment{history}{\noindent\textit{History:} }{}",
    *(rf"\providecommand{{\{op}}}{{\mathop{{\rm {op}}}\nolimits}}" for op in dict.fromkeys(_OPERATORS)),
    r"\renewcommand{\Im}{\mathop{\rm Im}\nolimits}",
    r"\newcommand{\etale}{{\acute{e}tale}}",  # braced, as Stacks has it: X_\etale is a subscript
    r"\newcommand{\proetale}{{pro\text{-}\acute{e}tale}}",
])

_XY = re.compile(r"\\xymatrix|\\ar\b")
_ENV = re.compile(r"\\(begin|end)\s*\{[^{}]*\}")
_BLANK = re.compile(r"\n[ \t]*\n")


def tex_engine() -> str | None:
    """The pdflatex on PATH, or None: the caller says TeX is missing and skips."""
    return shutil.which("pdflatex")


def blocks(text: str) -> list[str]:
    """The complete blocks of ``text``: split at blank lines where no environment is open; the last is cut."""
    out, start, depth = [], 0, 0
    for m in re.finditer(rf"{_ENV.pattern}|{_BLANK.pattern}", text):
        if m.group(1) == "begin":
            depth += 1
        elif m.group(1) == "end":
            depth = max(0, depth - 1)
        elif depth == 0:
            chunk = text[start:m.start()].strip()
            if chunk:
                out.append(chunk)
            start = m.end()
    return out


@dataclass
class Compiled:
    ok: bool
    error: str  # the first '!' line of the log, or why it did not run
    pdf: bytes | None

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "error": self.error}


def compile_latex(body: str, preamble: str = STACKS_PREAMBLE, timeout: float = 20.0) -> Compiled:
    """Run pdflatex once on ``body`` inside ``preamble`` (halting on the first error); the PDF when it compiled."""
    engine = tex_engine()
    if engine is None:
        raise CharlmError("pdflatex not found: install TeX (e.g. .ci/install-tex, Debian's texlive-latex-base)")
    with tempfile.TemporaryDirectory(prefix="charlm-tex-") as tmp:
        src = Path(tmp) / "sample.tex"
        src.write_text(f"{preamble}\n\\begin{{document}}\n{body}\n\\end{{document}}\n", encoding="utf-8")
        # sampled text is untrusted: no \write18, no reading or writing files outside the temporary folder
        env = {**os.environ, "openout_any": "p", "openin_any": "p", "shell_escape": "f"}
        try:
            proc = subprocess.run([engine, "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape",
                                   src.name], cwd=tmp, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL,
                                  env=env)
        except subprocess.TimeoutExpired:
            return Compiled(False, f"pdflatex ran longer than {timeout:g} s", None)
        log = proc.stdout.decode("utf-8", "replace")
        pdf = Path(tmp) / "sample.pdf"
        if proc.returncode == 0 and pdf.is_file():
            return Compiled(True, "", pdf.read_bytes())
        first = next((line for line in log.splitlines() if line.startswith("!")), f"exit status {proc.returncode}")
        return Compiled(False, first, None)


def compile_share(texts: Sequence[str], limit: int = 40) -> dict[str, Any]:
    """Share of the complete blocks of ``texts`` that compile (at most ``limit`` blocks, in order)."""
    all_blocks = [b for t in texts for b in blocks(t)]
    diagrams = [b for b in all_blocks if _XY.search(b)]
    judged = [b for b in all_blocks if not _XY.search(b)][:limit]
    results = [compile_latex(b) for b in judged]
    errors: dict[str, int] = {}
    for r in results:
        if not r.ok:
            errors[r.error] = errors.get(r.error, 0) + 1
    ok = sum(r.ok for r in results)
    compiled = [b for b, r in zip(judged, results) if r.ok]
    return {"blocks": len(all_blocks), "judged": len(judged), "compiled": ok,
            "share": ok / len(judged) if judged else None, "diagram_blocks": len(diagrams),
            "errors": dict(sorted(errors.items(), key=lambda kv: -kv[1])[:5]),
            "longest_compiled": max(compiled, key=len) if compiled else None}


def skipped() -> Shown:
    why = "pdflatex is not installed (run .ci/install-tex, or install Debian's texlive-latex-base): compile check skipped"
    return Shown(f"<p><b>{esc(why)}</b></p>", why, {"skipped": why})


def compile_table(ours: dict[str, Any], real: dict[str, Any]) -> Shown:
    rows = [{"text": label, "complete blocks": m["judged"], "compile": m["compiled"], "share": m["share"],
             "with xy-pic diagrams (not judged)": m["diagram_blocks"]} for label, m in (("samples", ours), ("real", real))]
    return table(rows, "blocks compiled with pdflatex in a Stacks-like preamble")


def render_png(body: str, scale: float = 2.0) -> bytes | None:
    """``body`` compiled and its first page rendered to PNG (cropped to the text), or None if it does not compile."""
    import io

    import pypdfium2 as pdfium

    compiled = compile_latex(body)
    if not compiled.ok or compiled.pdf is None:
        return None
    page = pdfium.PdfDocument(compiled.pdf)[0]
    image = page.render(scale=scale).to_pil().convert("L")
    box = image.point(lambda v: 255 if v < 250 else 0).getbbox()  # the inked part of the page
    if box is not None:
        pad = int(8 * scale)
        image = image.crop((max(0, box[0] - pad), max(0, box[1] - pad), min(image.width, box[2] + pad),
                            min(image.height, box[3] + pad)))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def rendered(block: str | None, path: Any = None) -> Shown:
    """The block typeset (saved to ``path`` too), or why there is no image."""
    png = render_png(block) if block else None
    if png is None:
        why = "no sampled block compiled: nothing to typeset"
        return Shown(f"<p>{esc(why)}</p>", why)
    save_png(png, path)
    return image_of(png, "the longest sampled block that compiles, as TeX typesets it")
