"""Simple properties of every position of a text, to hold the cells against: in quotes, in a URL, depth...

    labels = property_labels(text)    # {name: (T,) float32}; binary ones are 0/1, see PROPERTIES
"""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np

_URL = re.compile(r"(?:https?|ftp)://[^\s\]\[|<>\"'{}]+|www\.[^\s\]\[|<>\"'{}]+")
_WWW = re.compile(r"www")
_IF = re.compile(r"\bif\s*\(")


def _inside_quotes(text: str) -> np.ndarray:
    """1 after reading an opening quote until the closing one. Curly “ opens and ” closes; straight " toggles.

    A backslash-escaped \\" does not count (C strings). A blank line ends an open straight quote (so one lost
    quote cannot flip the rest of a text) but not a curly one: in novels a quotation that runs over several
    paragraphs reopens each with “ and closes only at the end.
    """
    out = np.zeros(len(text), dtype=np.float32)
    inside, straight, prev, escaped = False, False, "", False
    for t, ch in enumerate(text):
        if ch == "\u201c":
            inside, straight = True, False
        elif ch == "\u201d":
            inside = False
        elif ch == '"' and not escaped:
            inside, straight = (not inside), True
        elif ch == "\n" and prev == "\n" and straight:
            inside = False
        out[t] = inside
        escaped = ch == "\\" and not escaped
        prev = ch
    return out


def _depth(text: str, opens: str, closes: str) -> np.ndarray:
    """Nesting depth after each character (never below 0: stray closers are ignored)."""
    table = {ord(c): 1 for c in opens} | {ord(c): -1 for c in closes}
    step = np.array([table.get(ord(c), 0) for c in text], dtype=np.int64)
    depth = np.zeros(len(text), dtype=np.float32)
    d = 0
    for t, s in enumerate(step):
        d = max(0, d + s)
        depth[t] = d
    return depth


def _wiki_links(text: str) -> np.ndarray:
    """1 from a ``[[`` to the matching ``]]`` (both included)."""
    out = np.zeros(len(text), dtype=np.float32)
    depth, t = 0, 0
    while t < len(text):
        pair = text[t:t + 2]
        if pair == "[[":
            depth += 1
            out[t:t + 2] = 1
            t += 2
            continue
        if pair == "]]" and depth:
            out[t:t + 2] = 1
            depth -= 1
            t += 2
            continue
        out[t] = depth > 0
        t += 1
    return out


def _urls(text: str) -> np.ndarray:
    out = np.zeros(len(text), dtype=np.float32)
    for m in _URL.finditer(text):
        end = m.end()
        while end > m.start() and text[end - 1] in ".,;:!?)":  # trailing punctuation belongs to the sentence
            end -= 1
        out[m.start():end] = 1
    return out


def _www(text: str) -> np.ndarray:
    """1 on each character of a "www" (a run of four w's holds one, and a lone w after it is outside)."""
    out = np.zeros(len(text), dtype=np.float32)
    for m in _WWW.finditer(text):
        out[m.start():m.end()] = 1
    return out


def _if_conditions(text: str) -> np.ndarray:
    """1 from an ``if`` keyword to the parenthesis that closes its condition (both included), lines included."""
    out = np.zeros(len(text), dtype=np.float32)
    for m in _IF.finditer(text):
        depth, t = 0, m.end() - 1
        while t < len(text):
            depth += {"(": 1, ")": -1}.get(text[t], 0)
            if depth == 0:
                break
            t += 1
        out[m.start():t + 1] = 1
    return out


def _line_position(text: str) -> np.ndarray:
    out = np.zeros(len(text), dtype=np.float32)
    col = 0
    for t, ch in enumerate(text):
        col = 0 if ch == "\n" else col + 1
        out[t] = col
    return out


def _comments(text: str) -> np.ndarray:
    """C-style comments, /* ... */ and // to the end of the line, delimiters included; string literals skipped."""
    out = np.zeros(len(text), dtype=np.float32)
    t, n = 0, len(text)
    while t < n:
        ch, pair = text[t], text[t:t + 2]
        if pair == "/*":
            end = text.find("*/", t + 2)
            end = n if end < 0 else end + 2
            out[t:end] = 1
            t = end
        elif pair == "//":
            end = text.find("\n", t)
            end = n if end < 0 else end
            out[t:end] = 1
            t = end
        elif ch == '"':  # a string literal on one line: its contents are not comments
            end = t + 1
            while end < n and text[end] not in '"\n':
                end += 2 if text[end] == "\\" else 1
            t = end + 1
        else:
            t += 1
    return out


PROPERTIES: dict[str, str] = {
    "in_quotes": "inside a quotation (curly “ ” or straight \" quotes)",
    "in_parens": "inside ( )",
    "in_wiki_link": "inside a [[wiki link]]",
    "in_url": "inside a URL",
    "in_www": "on a \"www\"",
    "in_comment": "inside a C comment (/* */ or //)",
    "in_if_condition": "in an if statement's condition, from `if` to its closing parenthesis",
    "bracket_depth": "nesting depth of ( [ {",
    "brace_depth": "nesting depth of { } (scopes in C)",
    "line_position": "characters since the last newline",
}
BINARY = ("in_quotes", "in_parens", "in_wiki_link", "in_url", "in_www", "in_comment", "in_if_condition")


def property_labels(text: str, starts: Sequence[int] = (0,)) -> dict[str, np.ndarray]:
    """Simple properties of every position of ``text``, as (T,) float32 arrays (binary ones are 0/1).

    A position's value describes the text *after* reading that character (so the opening quote is
    inside, the closing one outside), which is what the state after that character can know. ``starts``: where
    separate pieces of ``text`` begin (a trace's ``starts``); each is labelled on its own, so a quote left open
    at the end of one piece does not run into the next.
    """
    if tuple(starts) not in ((), (0,)):
        parts = [property_labels(text[a:b]) for a, b in zip(starts, (*starts[1:], len(text)))]
        return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
    paren = _depth(text, "(", ")")
    return {
        "in_quotes": _inside_quotes(text),
        "in_parens": (paren > 0).astype(np.float32),
        "in_wiki_link": _wiki_links(text),
        "in_url": _urls(text),
        "in_www": _www(text),
        "in_comment": _comments(text),
        "in_if_condition": _if_conditions(text),
        "bracket_depth": _depth(text, "([{", ")]}"),
        "brace_depth": _depth(text, "{", "}"),
        "line_position": _line_position(text),
    }
