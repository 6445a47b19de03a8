r"""Does sampled LaTeX compile? Each block is run through a real TeX engine (pdflatex) in a Stacks-like preamble.

A *block* is what lies between two blank lines at environment depth 0 (``\begin``/``\end`` counted, whatever
their names), so a lemma with a multi-paragraph proof is one block and ``\begin{proof} ... \end{lemma}``
stays one block that TeX rejects. The last block of a text is left out: sampling (or cutting real text)
stopped in it. Blocks that draw diagrams with ``\xymatrix`` need xy-pic, which the small Debian TeX that CI
installs (texlive-latex-base, ``.ci/install-tex``) lacks: they are counted apart, never as failures.

The preamble is modelled on the Stacks project's own (``preamble.tex``): amsmath, amssymb, amsthm, hyperref,
its theorem environments and the operator macros its text uses most.

How far a block is from compiling is measured as the number of automatic repairs it needs before it compiles
(:func:`repair`): first a scan that closes what the block leaves open (environments in the right order, an
``\end`` that names another environment renamed to the one it closes, braces), then, compile by compile, a fix for
the error TeX stopped at (an undefined macro dropped, an unknown environment dropped, else the line TeX stopped in
dropped). Each change is one repair; a block that still fails after :data:`MAX_REPAIRS` is counted as not
compiling.
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

from charlm.analysis.display import Shown, esc, image_of, pre, save_png, table
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
# The tokens the scan in close_open() reads: \begin{X} and \end{X}, an escaped character (\{ \} \% \\ \[ \] ...), a
# comment, a brace, math shifts.
_TOKEN = re.compile(r"\\(begin|end)\s*\{([^{}]*)\}|\\[^A-Za-z]|%[^\n]*|[{}]|\$\$|\$")
# Repairs a block may need before it is counted as not compiling.
MAX_REPAIRS = 10
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
    line: int | None = None  # the line of the body TeX stopped in (1 = the body's first line), when it says
    context: str = ""  # that line up to where TeX stopped

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
        # sampled text is untrusted: no \write18, no reading or writing files outside the temporary folder;
        # long log lines unwrapped, so that the line TeX stopped in reads whole
        env = {**os.environ, "openout_any": "p", "openin_any": "p", "shell_escape": "f", "max_print_line": "10000"}
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
        lines = log.splitlines()
        at = next((i for i, line in enumerate(lines) if line.startswith("!")), None)
        if at is None:
            return Compiled(False, f"exit status {proc.returncode}", None)
        where = next((m for line in lines[at:at + 30] for m in [re.match(r"l\.(\d+) (.*)$", line)] if m), None)
        # the body starts on the line after the preamble's and \begin{document}'s
        line = int(where.group(1)) - len(preamble.splitlines()) - 1 if where else None
        return Compiled(False, lines[at], None, line, where.group(2) if where else "")


@dataclass
class Repaired:
    """A block after automatic repairs: the text as it last went through TeX, each change made, the last result."""

    text: str
    repairs: list[str]
    compiled: Compiled
    first_error: str = ""  # TeX's first error on the block as written ("" when it compiled as written)

    @property
    def k(self) -> int | None:
        """Repairs needed to compile (0: it compiles as written); None when it still fails after MAX_REPAIRS."""
        return len(self.repairs) if self.compiled.ok else None


_CLOSES = {"}": "{", "\\]": "\\[", "\\)": "\\(", "$": "$", "$$": "$$"}  # closer -> the opener it closes
_CLOSER = {opener: closer for closer, opener in _CLOSES.items()}


def close_open(body: str) -> tuple[str, list[str]]:
    r"""Close what ``body`` leaves open, in the right order. Openers are braces, math (``$``, ``$$``, ``\[``,
    ``\(``) and environments. A closer first closes whatever was opened after its opener (inside the same
    environment); ``\end{Y}`` with no ``Y`` open closes the innermost open environment instead (renamed), or is
    dropped when none is; another closer that closes nothing is dropped; whatever is still open at the end is
    closed there. Returns the text and one line per repair."""
    out: list[str] = []
    repairs: list[str] = []
    stack: list[str] = []  # openers, and environments as "env:<name>"

    def close_top() -> None:
        top = stack.pop()
        if top.startswith("env:"):
            out.append(f"\\end{{{top[4:]}}}")
            repairs.append(f"closed \\begin{{{top[4:]}}}")
        else:
            out.append(_CLOSER[top])
            repairs.append(f"closed {top} with {_CLOSER[top]}")

    def inside_environment() -> list[str]:
        """The openers above the innermost open environment."""
        envs = [i for i, x in enumerate(stack) if x.startswith("env:")]
        return stack[envs[-1] + 1:] if envs else stack

    pos = 0
    for m in _TOKEN.finditer(body):
        out.append(body[pos:m.start()])
        pos, token = m.end(), m.group(0)
        kind, name = m.group(1), m.group(2)
        if kind == "begin":
            stack.append(f"env:{name}")
            out.append(token)
        elif kind == "end":
            if f"env:{name}" in stack:
                while stack[-1] != f"env:{name}":
                    close_top()
                stack.pop()
                out.append(token)
            elif any(x.startswith("env:") for x in stack):
                while not stack[-1].startswith("env:"):
                    close_top()
                top = stack.pop()[4:]
                out.append(f"\\end{{{top}}}")
                repairs.append(f"\\end{{{name}}} closes \\begin{{{top}}}: renamed")
            else:
                repairs.append(f"dropped \\end{{{name}}}, which closes nothing")
        elif token in _CLOSES and _CLOSES[token] in inside_environment():
            while stack[-1] != _CLOSES[token]:
                close_top()
            stack.pop()
            out.append(token)
        elif token in _CLOSER:  # an opener: {, \[, \(, and $ or $$ when not closing
            stack.append(token)
            out.append(token)
        elif token in _CLOSES:
            repairs.append(f"dropped a {token} that closes nothing")
        else:
            out.append(token)
    out.append(body[pos:])
    while stack:
        out.append("\n" if stack[-1].startswith("env:") else "")
        close_top()
    return "".join(out), repairs


_UNDEFINED_ENV = re.compile(r"Environment (.+) undefined")
_LAST_MACRO = re.compile(r"(\\[A-Za-z@]+|\\.)\s*$")


def _fix(text: str, result: Compiled) -> tuple[str, str] | None:
    """One change for the error TeX stopped at, and what it was; None when nothing can be done."""
    env = _UNDEFINED_ENV.search(result.error)
    if env:
        name = re.escape(env.group(1))
        fixed = re.sub(rf"\\(?:begin|end)\s*\{{{name}\}}", "", text)
        if fixed != text:
            return fixed, f"dropped the unknown environment {env.group(1)}"
    macro = _LAST_MACRO.search(result.context) if "Undefined control sequence" in result.error else None
    if macro:
        pattern = re.escape(macro.group(1)) + ("(?![A-Za-z@])" if macro.group(1)[1:].isalpha() else "")
        fixed = re.sub(pattern, "", text)
        if fixed != text:
            return fixed, f"dropped the undefined {macro.group(1)}"
    lines = text.split("\n")
    if result.line is not None and 1 <= result.line <= len(lines):
        del lines[result.line - 1]
        return "\n".join(lines), f"dropped line {result.line} ({result.error.lstrip('! ').rstrip('.')})"
    return None


def repair(body: str, max_repairs: int = MAX_REPAIRS) -> Repaired:
    """``body`` compiled after as few automatic repairs as this finds: :func:`close_open`'s, then one fix per
    compile for the error TeX stops at (see the module's docstring). At most ``max_repairs`` in all."""
    result = compile_latex(body)
    if result.ok:
        return Repaired(body, [], result)
    first_error = result.error
    text, repairs = close_open(body)
    if repairs and len(repairs) <= max_repairs:
        result = compile_latex(text)
    else:
        text, repairs = body, []
    while not result.ok and len(repairs) < max_repairs:
        fixed = _fix(text, result)
        if fixed is None:
            break
        text, what = fixed
        repairs.append(what)
        result = compile_latex(text)
    return Repaired(text, repairs, result, first_error)


def compile_share(texts: Sequence[str], limit: int = 40, max_repairs: int = MAX_REPAIRS) -> dict[str, Any]:
    """The complete blocks of ``texts`` (at most ``limit``, in order) through pdflatex, each after as few automatic
    repairs as :func:`repair` finds: how many compile as written, the repairs each needed (``k``, None: not within
    ``max_repairs``), their distribution, and the best block (fewest repairs, then longest) as it compiled."""
    all_blocks = [b for t in texts for b in blocks(t)]
    diagrams = [b for b in all_blocks if _XY.search(b)]
    judged = [b for b in all_blocks if not _XY.search(b)][:limit]
    fixed = [repair(b, max_repairs) for b in judged]
    errors: dict[str, int] = {}
    for r in fixed:
        if r.first_error:
            errors[r.first_error] = errors.get(r.first_error, 0) + 1
    ks = [r.k for r in fixed]
    ok = sum(k == 0 for k in ks)
    done = [(r, b) for r, b in zip(fixed, judged) if r.k is not None]
    best = min(done, key=lambda rb: (rb[0].k, -len(rb[1])), default=None)
    return {"blocks": len(all_blocks), "judged": len(judged), "compiled": ok,
            "share": ok / len(judged) if judged else None, "diagram_blocks": len(diagrams),
            "repairs": ks, "max_repairs": max_repairs,
            "k_counts": {str(k): ks.count(k) for k in sorted({k for k in ks if k is not None})},
            "not_within": ks.count(None),
            "errors": dict(sorted(errors.items(), key=lambda kv: -kv[1])[:5]),
            "best": None if best is None else {"sampled": best[1], "compiled": best[0].text, "k": best[0].k,
                                               "repairs": best[0].repairs}}


def skipped() -> Shown:
    why = "pdflatex is not installed (run .ci/install-tex, or install Debian's texlive-latex-base): compile check skipped"
    return Shown(f"<p><b>{esc(why)}</b></p>", why, {"skipped": why})


def compile_table(ours: dict[str, Any], real: dict[str, Any]) -> Shown:
    """Samples beside real blocks: how many compile as written, after repairs, or not within the maximum."""
    def row(label: str, m: dict[str, Any]) -> dict[str, Any]:
        ks = sorted(k for k in m["repairs"] if k is not None)
        return {"text": label, "complete blocks": m["judged"], "compile as written": m["compiled"],
                "compile after repairs": len(ks) - m["compiled"], f"not within {m['max_repairs']} repairs": m["not_within"],
                "median repairs (those that compile)": float(ks[len(ks) // 2]) if ks else None,
                "with xy-pic diagrams (not judged)": m["diagram_blocks"]}

    return table([row("samples", ours), row("real", real)],
                 "blocks through pdflatex in a Stacks-like preamble, repaired automatically until they compile")


def repairs_table(ours: dict[str, Any], real: dict[str, Any]) -> Shown:
    """How many blocks needed k repairs, for each k seen, samples beside real text."""
    ks = sorted({int(k) for m in (ours, real) for k in m["k_counts"]})
    rows = [{"repairs k": k, "sampled blocks": ours["k_counts"].get(str(k), 0),
             "real blocks": real["k_counts"].get(str(k), 0)} for k in ks]
    rows.append({"repairs k": f"more than {ours['max_repairs']}", "sampled blocks": ours["not_within"],
                 "real blocks": real["not_within"]})
    return table(rows, "repairs each block needed before it compiled (0: as written)")


def pdf_png(pdf: bytes, scale: float = 2.0) -> bytes:
    """The first page of ``pdf`` as PNG, cropped to the text."""
    import io

    import pypdfium2 as pdfium

    page = pdfium.PdfDocument(pdf)[0]
    image = page.render(scale=scale).to_pil().convert("L")
    box = image.point(lambda v: 255 if v < 250 else 0).getbbox()  # the inked part of the page
    if box is not None:
        pad = int(8 * scale)
        image = image.crop((max(0, box[0] - pad), max(0, box[1] - pad), min(image.width, box[2] + pad),
                            min(image.height, box[3] + pad)))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def render_png(body: str, scale: float = 2.0) -> bytes | None:
    """``body`` compiled and its first page rendered to PNG (cropped to the text), or None if it does not compile."""
    compiled = compile_latex(body)
    return pdf_png(compiled.pdf, scale) if compiled.ok and compiled.pdf is not None else None


def rendered(best: dict[str, Any] | None, path: Any = None) -> Shown:
    """A block as :func:`compile_share` keeps its best (``sampled``, ``compiled``, ``k``, ``repairs``): its source
    as sampled, the repairs it needed, and the repaired text typeset (saved to ``path`` too); or why no image."""
    png = render_png(best["compiled"]) if best else None
    if png is None:
        why = "no sampled block compiled, even after repairs: nothing to typeset"
        return Shown(f"<p>{esc(why)}</p>", why)
    save_png(png, path)
    said = (f"the best sampled block: {best['k']} repair{'s' if best['k'] != 1 else ''}"
            + (f" ({'; '.join(best['repairs'])})" if best["repairs"] else ", it compiles as sampled")
            + ", then typeset by TeX")
    image = image_of(png, said)
    return Shown(f"{image.html}<details><summary>its source, as sampled</summary>{pre(best['sampled'])}</details>",
                 f"{image.plain}\n{best['sampled']}")
