"""04 Wikipedia: markup the samples open and close, parentheses, headings and lists, and hallucinated URLs.

The post's Wikipedia samples close XML tags "in the correct nested order", pair parentheses, and invent a URL
that "doesn't actually exist". Here each is counted on the samples and on held-out text of the same lengths.
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

from charlm.analysis import textstats
from charlm.analysis.display import Shown, table
from charlm.paper.claims import POST, Claim, Measured, Said, by_ratio, enough, pct, ratio_rule, rule
from charlm.paper.notebook import Corpus, closure_table, reference_pieces

# --------------------------------------------------------------------------- what the post says, and the rules

XML_TAGS = Said("note that it closes the correct tags appropriately and in the correct nested order.",
                POST + "#wikipedia")
# The share of XML tags opened or closed that pair up in order, as a multiple of real text's share.
XML_HELD, XML_PARTLY = 0.9, 0.7
MIN_TAGS = 10  # XML tags opened or closed in the samples

PARENTHESES = Said("Also, note that the model learns to open and close the parenthesis correctly.", POST + "#wikipedia")
# The share of parentheses that pair up, as a multiple of real text's share.
PARENS_HELD, PARENS_PARTLY = 0.9, 0.7
MIN_PARENS = 10  # parentheses in the samples

HALLUCINATED_URL = Said("the yahoo url above doesn't actually exist, the model just hallucinated it.",
                        POST + "#wikipedia")
# Judged on well-formed URLs only (scheme, a host of dotted labels, a top-level domain of letters: the post's
# http://www.humah.yahoo.com/guardian.cfm is one, a bare "http://wwr" is not): held when at least this share of
# them occurs nowhere in the training text, partly when any does; too few to judge below MIN_URLS of them.
URL_NEW_HELD = 0.5
MIN_URLS = 5
URL_RULE = rule(f"at least {100 * URL_NEW_HELD:.0f}% of the well-formed sampled URLs (scheme, dotted host, top-level "
                "domain of letters) occur nowhere in the training text", "some do", MIN_URLS,
                "well-formed sampled URLs")

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


_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$", re.I)


def well_formed_url(url: str) -> bool:
    """A URL a browser could go to: http(s), then a host of two or more dotted labels (letters, digits, inner
    hyphens) ending in a top-level domain of at least two letters, an optional port, then any path."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        host, _ = parts.hostname or "", parts.port  # a port that is not a number raises
    except ValueError:
        return False
    labels = host.split(".")
    return (parts.scheme in ("http", "https") and len(labels) >= 2 and all(_LABEL.match(x) for x in labels)
            and labels[-1].isalpha() and len(labels[-1]) >= 2)


def wiki_form(samples: Sequence[str], real_pieces: Sequence[str], training_text: str) -> dict[str, Any]:
    def measure(texts: Sequence[str]) -> dict[str, Any]:
        counts = [wiki_structure(t) for t in texts]
        total = {k: sum(c[k] for c in counts) for k in counts[0]} if counts else {}
        found = [u for t in texts for u in urls(t)]
        formed = [u for u in found if well_formed_url(u)]
        new = [u for u in formed if u not in training_text]
        parens = total.get("parens_paired", 0) + total.get("parens_unclosed", 0) + total.get("parens_stray", 0)
        per_k = 1000 / total["chars"] if total.get("chars") else 0.0
        return {**total, "paren_rate": total["parens_paired"] / parens if parens else None,
                "heading_rate": total["headings_well_formed"] / total["headings"] if total.get("headings") else None,
                "headings_per_1000": total.get("headings", 0) * per_k, "lists_per_1000": total.get("list_items", 0) * per_k,
                "urls": len(found), "urls_well_formed": len(formed), "urls_not_in_training": len(new),
                "url_new_share": len(new) / len(formed) if formed else None, "url_examples": new[:5],
                "malformed_examples": [u for u in found if not well_formed_url(u)][:5]}

    return {"samples": measure(samples), "real": measure(real_pieces)}


def wiki_form_claims(form: Mapping[str, Any], closure: Mapping[str, Any] | None = None) -> list[Claim]:
    """Parentheses (with headings and lists) and invented URLs; XML tags too given :func:`markup_closure`'s counts
    (``{"xml": {"samples": {"rate", "attempts"}, "real": {"rate"}}}``)."""
    ours, real = form["samples"], form["real"]
    paren_count = sum(ours.get(k, 0) for k in ("parens_paired", "parens_unclosed", "parens_stray"))
    parens = Claim.of(
        PARENTHESES,
        f"{pct(ours['paren_rate'])} of the {paren_count} parentheses in the samples pair up (real held-out text "
        f"{pct(real['paren_rate'])}); heading lines: {ours['headings']}, {pct(ours['heading_rate'])} of them with "
        f"matching '='s (real {pct(real['heading_rate'])}); and {ours['lists_per_1000']:.1f} list items per "
        f"1,000 characters (real {real['lists_per_1000']:.1f})",
        enough(by_ratio(ours["paren_rate"], real["paren_rate"], PARENS_HELD, PARENS_PARTLY), paren_count, MIN_PARENS),
        ratio_rule("the share of parentheses paired", PARENS_HELD, PARENS_PARTLY, MIN_PARENS, "parentheses sampled"),
        ours["paren_rate"], paren_count)
    found = [parens, url_claim(ours, real)]
    if closure and "xml" in closure:
        xml_ours, xml_real = closure["xml"]["samples"], closure["xml"]["real"]
        found.insert(0, Claim.of(
            XML_TAGS,
            f"{pct(xml_ours['rate'])} of the {xml_ours['attempts']} XML tags the samples open or close pair up in "
            f"the right order; real held-out text: {pct(xml_real['rate'])}",
            enough(by_ratio(xml_ours["rate"], xml_real["rate"], XML_HELD, XML_PARTLY), xml_ours["attempts"], MIN_TAGS),
            ratio_rule("the share of XML tags paired in order", XML_HELD, XML_PARTLY, MIN_TAGS, "XML tags sampled"),
            xml_ours["rate"], xml_ours["attempts"]))
    return found


def url_claim(ours: Mapping[str, Any], real: Mapping[str, Any]) -> Claim:
    """Invented URLs, judged on the well-formed ones (:func:`well_formed_url`); the sentence sets the URLs of
    held-out text of the same lengths beside them. Its number is the share of well-formed URLs that are new."""
    formed = ours["urls_well_formed"]
    new = ours["urls_not_in_training"]
    verdict = "held" if formed and new / formed >= URL_NEW_HELD else "partly" if new else "not"
    sentence = (f"{ours['urls']} URLs sampled, {formed} of them well formed, {new} of those nowhere in the training "
                f"text" + (f" (e.g. {ours['url_examples'][0]})" if ours["url_examples"] else "")
                + (f"; malformed, e.g. {ours['malformed_examples'][0]}" if ours["malformed_examples"] else "")
                + f". Held-out text of the same lengths: {real['urls']} URLs, {real['urls_well_formed']} well formed, "
                f"{real['urls_not_in_training']} of those new")
    return Claim.of(HALLUCINATED_URL, sentence, enough(verdict, formed, MIN_URLS), URL_RULE, ours["url_new_share"],
                    formed)


def wiki_form_table(form: Mapping[str, Any]) -> Shown:
    labels = {"paren_rate": "( ) paired right", "heading_rate": "headings with matching '='s",
              "headings_per_1000": "heading lines per 1,000 chars", "lists_per_1000": "list items per 1,000 chars",
              "urls": "URLs", "urls_well_formed": "well-formed URLs",
              "url_new_share": "well-formed URLs not in the training text"}
    return table([{"measure": label, "samples": form["samples"][k], "real text": form["real"][k]}
                  for k, label in labels.items()], "parentheses, headings, lists and URLs: samples beside real text")


def measure_wiki_form(samples: Sequence[str], corpus: Corpus, prime: str = "", closure: Any = None) -> Shown:
    """Parentheses, headings, lists and URLs; with ``markup_closure``'s data, the verdict on XML tags too."""
    form = wiki_form(samples, reference_pieces(corpus.split("test"), samples, prime), corpus.split("train"))
    return Measured([wiki_form_table(form)], form, wiki_form_claims(form, closure))
