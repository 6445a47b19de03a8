"""04 Wikipedia: markup the samples open and close, parentheses, headings and lists, and hallucinated URLs.

The post's Wikipedia samples close XML tags "in the correct nested order", pair parentheses, and invent a URL
that "doesn't actually exist". Here each is counted on the samples and on held-out text of the same lengths.
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

from charlm.analysis import textstats
from charlm.analysis.display import Shown, table
from charlm.paper.claims import POST, Claim, Measured, Said, by_ratio, pct, ratio_rule
from charlm.paper.notebook import Corpus, closure_table, reference_pieces

# --------------------------------------------------------------------------- what the post says, and the rules

XML_TAGS = Said("note that it closes the correct tags appropriately and in the correct nested order.",
                POST + "#wikipedia")
# The share of XML tags opened or closed that pair up in order, as a multiple of real text's share.
XML_HELD, XML_PARTLY = 0.9, 0.7

PARENTHESES = Said("Also, note that the model learns to open and close the parenthesis correctly.", POST + "#wikipedia")
# The share of parentheses that pair up, as a multiple of real text's share.
PARENS_HELD, PARENS_PARTLY = 0.9, 0.7

HALLUCINATED_URL = Said("the yahoo url above doesn't actually exist, the model just hallucinated it.",
                        POST + "#wikipedia")
# Held when at least this share of the sampled URLs occurs nowhere in the training text; partly with any URL.
URL_NEW_HELD = 0.5

# --------------------------------------------------------------------------- markup closed in order


def markup_closure(samples: Sequence[str], reference: str, prime: str = "") -> Shown:
    """[[links]], {{templates}} and XML tags in wiki samples vs real text of the same lengths."""
    ours = [textstats.wiki_markup_closure(s) for s in samples]
    real = [textstats.wiki_markup_closure(p) for p in reference_pieces(reference, samples, prime)]
    data = {kind: (textstats.pool([getattr(r, kind) for r in ours]), textstats.pool([getattr(r, kind) for r in real]))
            for kind in ("links", "templates", "xml")}
    shown = closure_table({"[[ ]] links": data["links"], "{{ }} templates": data["templates"], "<tag> </tag>": data["xml"]},
                     "how often markup opened in a sample is closed correctly")
    shown.data = {k: {"samples": v[0], "real": v[1]} for k, v in data.items()}
    return shown


# --------------------------------------------------------------------------- parentheses, headings, lists, URLs

_HEADING = re.compile(r"^(=+)\s*[^=\n].*?\s*(=+)\s*$", re.M)
_HEADING_START = re.compile(r"^=+", re.M)
_LIST_ITEM = re.compile(r"^[*#]+\s*\S", re.M)
_URL = re.compile(r"https?://[^\s\]\[|<>\"'}{]+")


def wiki_structure(text: str) -> dict[str, int]:
    """Headings (lines starting with '='; well formed when the '='s on both sides match), list items and
    parentheses, counted in one text."""
    headings = _HEADING_START.findall(text)
    good = [m for m in _HEADING.finditer(text) if len(m.group(1)) == len(m.group(2)) and len(m.group(1)) >= 2]
    depth, paired, stray = 0, 0, 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            if depth:
                depth, paired = depth - 1, paired + 1
            else:
                stray += 1
    return {"headings": len(headings), "headings_well_formed": len(good), "list_items": len(_LIST_ITEM.findall(text)),
            "parens_paired": paired, "parens_unclosed": depth, "parens_stray": stray, "chars": len(text)}


def urls(text: str) -> list[str]:
    return [u.rstrip(".,;:)") for u in _URL.findall(text)]


def wiki_form(samples: Sequence[str], real_pieces: Sequence[str], training_text: str) -> dict[str, Any]:
    def measure(texts: Sequence[str]) -> dict[str, Any]:
        counts = [wiki_structure(t) for t in texts]
        total = {k: sum(c[k] for c in counts) for k in counts[0]} if counts else {}
        found = [u for t in texts for u in urls(t)]
        new = [u for u in found if u not in training_text]
        parens = total.get("parens_paired", 0) + total.get("parens_unclosed", 0) + total.get("parens_stray", 0)
        per_k = 1000 / total["chars"] if total.get("chars") else 0.0
        return {**total, "paren_rate": total["parens_paired"] / parens if parens else None,
                "heading_rate": total["headings_well_formed"] / total["headings"] if total.get("headings") else None,
                "headings_per_1000": total.get("headings", 0) * per_k, "lists_per_1000": total.get("list_items", 0) * per_k,
                "urls": len(found), "urls_not_in_training": len(new),
                "url_new_share": len(new) / len(found) if found else None, "url_examples": new[:5]}

    return {"samples": measure(samples), "real": measure(real_pieces)}


def wiki_form_claims(form: Mapping[str, Any], closure: Mapping[str, Any] | None = None) -> list[Claim]:
    """Parentheses (with headings and lists) and invented URLs; XML tags too given :func:`markup_closure`'s counts
    (``{"xml": {"samples": {"rate", "attempts"}, "real": {"rate"}}}``)."""
    ours, real = form["samples"], form["real"]
    paren_count = sum(ours.get(k, 0) for k in ("parens_paired", "parens_unclosed", "parens_stray"))
    parens = Claim.of(
        PARENTHESES,
        f"{pct(ours['paren_rate'])} of the parentheses in the samples pair up (real held-out text "
        f"{pct(real['paren_rate'])}); heading lines: {ours['headings']}, {pct(ours['heading_rate'])} of them with "
        f"matching '='s (real {pct(real['heading_rate'])}); and {ours['lists_per_1000']:.1f} list items per "
        f"1,000 characters (real {real['lists_per_1000']:.1f})",
        by_ratio(ours["paren_rate"], real["paren_rate"], PARENS_HELD, PARENS_PARTLY),
        ratio_rule("the share of parentheses paired", PARENS_HELD, PARENS_PARTLY), ours["paren_rate"], paren_count)
    has_urls = ours["urls"] > 0
    url = Claim.of(
        HALLUCINATED_URL,
        f"{ours['urls']} URLs sampled, {ours['urls_not_in_training']} of them ({pct(ours['url_new_share'])}) "
        f"nowhere in the training text; real held-out text: {pct(real['url_new_share'])} of {real['urls']} "
        "are new" + (f", e.g. {ours['url_examples'][0]}" if ours["url_examples"] else ""),
        "held" if has_urls and (ours["url_new_share"] or 0) >= URL_NEW_HELD else "partly" if has_urls else "not",
        f"held when at least {pct(URL_NEW_HELD)} of the sampled URLs occur nowhere in the training text, partly "
        "when some URL is sampled", ours["url_new_share"], ours["urls"])
    found = [parens, url]
    if closure and "xml" in closure:
        xml_ours, xml_real = closure["xml"]["samples"], closure["xml"]["real"]
        found.insert(0, Claim.of(
            XML_TAGS,
            f"{pct(xml_ours['rate'])} of the {xml_ours['attempts']} XML tags the samples open or close pair up in "
            f"the right order; real held-out text: {pct(xml_real['rate'])}",
            by_ratio(xml_ours["rate"], xml_real["rate"], XML_HELD, XML_PARTLY),
            ratio_rule("the share of XML tags paired in order", XML_HELD, XML_PARTLY), xml_ours["rate"],
            xml_ours["attempts"]))
    return found


def wiki_form_table(form: Mapping[str, Any]) -> Shown:
    labels = {"paren_rate": "( ) paired right", "heading_rate": "headings with matching '='s",
              "headings_per_1000": "heading lines per 1,000 chars", "lists_per_1000": "list items per 1,000 chars",
              "urls": "URLs", "url_new_share": "URLs not in the training text"}
    return table([{"measure": label, "samples": form["samples"][k], "real text": form["real"][k]}
                  for k, label in labels.items()], "parentheses, headings, lists and URLs: samples beside real text")


def measure_wiki_form(samples: Sequence[str], corpus: Corpus, prime: str = "", closure: Any = None) -> Shown:
    """Parentheses, headings, lists and URLs; with ``markup_closure``'s data, the verdict on XML tags too."""
    form = wiki_form(samples, reference_pieces(corpus.split("test"), samples, prime), corpus.split("train"))
    return Measured([wiki_form_table(form)], form, wiki_form_claims(form, closure))
