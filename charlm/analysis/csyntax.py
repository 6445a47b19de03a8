"""C samples through a real C parser: tree-sitter's C grammar, which needs no headers.

``gcc -fsyntax-only`` would count every kernel type it has not seen (``u32``, ``struct page``) as an error;
tree-sitter parses C by its grammar alone, so what it reports are syntax errors. It does not expand
macros, so kernel idioms such as ``list_for_each_entry(...) {`` cost real code errors too: that is why every
count is made on real held-out code as well.

Variables used but never declared are judged by name within one text: an identifier in an expression (not
a called function, not an ALL_CAPS macro constant, not a struct field) that no declaration, parameter,
``#define`` or enumerator in the same text introduces. Real code cut from the middle of a file has some
too (declared before the cut, or global); the samples' share beside real code's is the measure.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any, Iterator, Sequence

from charlm.analysis.display import Shown, table

_DECLARING = {"init_declarator", "declaration", "parameter_declaration", "function_declarator",
              "pointer_declarator", "array_declarator", "parenthesized_declarator", "field_declaration"}


@lru_cache(maxsize=1)
def _parser() -> Any:
    import tree_sitter_c
    from tree_sitter import Language, Parser

    return Parser(Language(tree_sitter_c.language()))


def _walk(node: Any) -> Iterator[Any]:
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(n.children))


@dataclass
class CSyntax:
    lines: int  # non-blank lines
    errors: int  # outermost ERROR nodes plus MISSING tokens the parser had to insert
    error_lines: int = 0  # non-blank lines an error touches: one ERROR node can swallow many lines
    declared: list[str] = field(default_factory=list)
    undeclared: list[str] = field(default_factory=list)  # distinct variables used and never declared here
    used: int = 0  # distinct variables used

    @property
    def errors_per_100_lines(self) -> float | None:
        return 100 * self.errors / self.lines if self.lines else None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "errors_per_100_lines": self.errors_per_100_lines}


def _declared_name(node: Any) -> str | None:
    """The identifier a declarator introduces (``*p``, ``a[3]``, ``f(int x)`` -> p, a, f)."""
    while node is not None and node.type != "identifier":
        node = node.child_by_field_name("declarator")
    return node.text.decode("utf-8", "replace") if node is not None else None


def analyse(code: str) -> CSyntax:
    tree = _parser().parse(code.encode("utf-8"))
    errors, declared, used, touched = 0, set(), set(), set()
    for node in _walk(tree.root_node):
        if node.is_missing or (node.type == "ERROR" and (node.parent is None or not _inside_error(node))):
            errors += 1
            touched.update(range(node.start_point[0], node.end_point[0] + 1))
        declarator = node.child_by_field_name("declarator") if node.type in _DECLARING | {"function_definition"} else None
        if declarator is not None:
            name = _declared_name(declarator)
            if name:
                declared.add(name)
        if node.type in ("preproc_def", "preproc_function_def", "enumerator"):
            name_node = node.child_by_field_name("name")
            if name_node is not None:
                declared.add(name_node.text.decode("utf-8", "replace"))
        if node.type == "preproc_params":
            declared.update(c.text.decode() for c in node.children if c.type == "identifier")
        if node.type == "identifier" and _is_variable_use(node):
            used.add(node.text.decode("utf-8", "replace"))
    rows = code.split("\n")
    lines = sum(1 for line in rows if line.strip())
    error_lines = sum(1 for i in touched if i < len(rows) and rows[i].strip())
    undeclared = sorted(n for n in used - declared if not n.isupper())
    return CSyntax(lines, errors, error_lines, sorted(declared), undeclared, len({n for n in used if not n.isupper()}))


def _inside_error(node: Any) -> bool:
    parent = node.parent
    while parent is not None:
        if parent.type == "ERROR":
            return True
        parent = parent.parent
    return False


def _is_variable_use(node: Any) -> bool:
    """An identifier read or written in an expression: not a declarator, a callee, or a macro's name."""
    parent = node.parent
    if parent is None or parent.type in {"preproc_def", "preproc_function_def", "preproc_params", "enumerator",
                                         "ERROR", "goto_statement", "labeled_statement", "preproc_defined",
                                         "preproc_ifdef"}:
        return False
    if parent.type in _DECLARING and parent.child_by_field_name("declarator") == node:
        return False
    return not (parent.type == "call_expression" and parent.child_by_field_name("function") == node)


def compare(samples: Sequence[str], real_pieces: Sequence[str]) -> dict[str, Any]:
    """Syntax errors per 100 lines and the share of used variables never declared, samples beside real code."""
    def measure(texts: Sequence[str]) -> dict[str, Any]:
        parsed = [analyse(t) for t in texts]
        lines, errors = sum(p.lines for p in parsed), sum(p.errors for p in parsed)
        error_lines = sum(p.error_lines for p in parsed)
        used, undeclared = sum(p.used for p in parsed), sum(len(p.undeclared) for p in parsed)
        return {"lines": lines, "errors": errors, "errors_per_100_lines": 100 * errors / lines if lines else None,
                "error_lines": error_lines, "error_line_share": error_lines / lines if lines else None,
                "variables_used": used, "undeclared": undeclared,
                "undeclared_share": undeclared / used if used else None,
                "undeclared_examples": [n for p in parsed for n in p.undeclared][:8]}

    return {"samples": measure(samples), "real": measure(real_pieces)}


def compare_table(measured: dict[str, Any]) -> Shown:
    labels = {"errors_per_100_lines": "syntax errors per 100 lines (tree-sitter)",
              "error_line_share": "lines an error touches", "lines": "non-blank lines",
              "undeclared_share": "variables used but declared nowhere in the text", "variables_used": "variables used"}
    return table([{"measure": label, "samples": measured["samples"][k], "real code": measured["real"][k]}
                  for k, label in labels.items()], "sampled C beside held-out kernel code, parsed by tree-sitter")
