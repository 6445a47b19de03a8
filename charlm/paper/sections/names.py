"""07 baby names: names sampled one per line, how many of them the data set does not hold, and whether the new
ones read as names.

The post trains on 8000 baby names, one per line, and shows sampled names "that do not occur in the training
data (90% don't)". Here the same share, against the training split and against the whole data set. A share of
new names says nothing of their quality (random letters are always new), so beside it: what a character n-gram
fitted on the real training names makes of the new sampled names, per character, against real names it never saw.
And a check of the data itself: names sorted A-Z (as the corpus was once split) come out of the model in
alphabetical runs; consecutive names sharing a first letter measure that.
"""

from __future__ import annotations

from typing import Any, Sequence

import random
from collections import Counter

from charlm.analysis import textstats
from charlm.analysis.display import Shown, esc, side_by_side, table
from charlm.analysis.ngram import NGramModel
from charlm.errors import CharlmError
from charlm.paper.claims import POST, TOO_FEW, Claim, Measured, Said, against_published
from charlm.paper.notebook import Corpus, generate
from charlm.run import RunResult

# --------------------------------------------------------------------------- what the post says, and the rules

NOVEL_NAMES = Said("only showing the ones that do not occur in the training data (90% don't)",
                   POST + "#generating-baby-names")
POST_NOVEL_SHARE = 0.90
# Held when our share of new names is within NOVEL_CLOSE of the post's (absolute), partly within NOVEL_NEAR.
NOVEL_CLOSE, NOVEL_NEAR = 0.10, 0.25

NEW_NAMES = Said("We can feed this to the RNN and then generate new names!", POST + "#generating-baby-names")
# The judge of a name's quality: an interpolated Kneser-Ney n-gram of this order fitted on the training names. Short
# enough that a new name is scored by its pieces (it has never seen the whole), long enough to know which pieces make
# a name: 3 to 6 were tried on the held-out names, and 5 scored them lowest.
QUALITY_ORDER = 5
# Held when the new sampled names cost that n-gram at most QUALITY_HELD times as many nats per character as real
# names it never saw, partly at most QUALITY_PARTLY times. (Real names with their letters shuffled cost about twice.)
QUALITY_HELD, QUALITY_PARTLY = 1.10, 1.25
# Below this many new names the quality is too few to judge.
QUALITY_MIN_NAMES = 50
# Samples come in alphabetical runs when consecutive names share their first letter more than RUNS_FACTOR times as
# often as consecutive training names do (shuffled training names: about chance; sorted ones: nearly always).
RUNS_FACTOR = 2.0


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


def show_names(names: Sequence[str], shown: int = 40) -> Shown:
    """The first names sampled in two columns of ``shown``."""
    return side_by_side({"first names sampled": "\n".join(names[:shown]), "more": "\n".join(names[shown:2 * shown])})


def novelty_claim(novelty: dict[str, Any]) -> tuple[str, Claim]:
    """Our share of sampled names not in the training split beside the post's: the sentence and the claim."""
    return against_published(NOVEL_NAMES, "sampled names not in the training split", novelty["novel_rate"],
                             POST_NOVEL_SHARE, NOVEL_CLOSE, NOVEL_NEAR, novelty["novelty"]["total"])


# --------------------------------------------------------------------------- alphabetical runs


def same_first_letter_share(names: Sequence[str]) -> float | None:
    """Share of consecutive pairs of names that begin with the same letter (None for fewer than two names)."""
    pairs = list(zip(names, names[1:]))
    return sum(a[:1] == b[:1] for a, b in pairs) / len(pairs) if pairs else None


def first_letter_chance(names: Sequence[str]) -> float:
    """The share two names drawn at random from ``names`` would have: the sum of the squared first-letter shares."""
    counts = Counter(n[:1] for n in names)
    total = sum(counts.values())
    return sum((c / total) ** 2 for c in counts.values())


def alphabetical_runs(names: Sequence[str], corpus: Corpus) -> Shown:
    """Consecutive sampled names sharing a first letter, beside consecutive training names and chance."""
    training = _names(corpus.split("train"))
    ours, theirs = same_first_letter_share(names), same_first_letter_share(training)
    chance = first_letter_chance(training)
    rows = [{"names": "sampled, in the order drawn", "pairs": len(names) - 1, "same first letter": ours},
            {"names": "training split, in file order", "pairs": len(training) - 1, "same first letter": theirs},
            {"names": "training split, sorted A-Z", "pairs": len(training) - 1,
             "same first letter": same_first_letter_share(sorted(training))},
            {"names": "two training names at random (chance)", "pairs": None, "same first letter": chance}]
    in_runs = ours is not None and theirs is not None and ours > RUNS_FACTOR * theirs
    verdict = (f"sampled names {'come' if in_runs else 'do not come'} in alphabetical runs: {_pct(ours)} of "
               f"consecutive names share a first letter, {_pct(theirs)} in the training file (runs: more than "
               f"{RUNS_FACTOR:g} x)")
    shown = table(rows, "consecutive names that begin with the same letter")
    return Shown(shown.html + f"<p>{esc(verdict)}</p>", shown.plain + "\n" + verdict,
                 {"samples": ours, "training": theirs, "chance": chance, "in_runs": in_runs})


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


# --------------------------------------------------------------------------- do the new names read as names?


def _names(text: str) -> list[str]:
    return [line.strip() for line in text.split("\n") if line.strip()]


def per_name_loss(model: NGramModel, names: Sequence[str]) -> float | None:
    """Mean nats per character of ``names`` under ``model``, each scored as a line of its own: after a newline, its
    characters and the newline that ends it (so a name that should have gone on, or stopped, pays for it)."""
    return model.loss_pieces([("\n", name + "\n") for name in names]) if names else None


def shuffled_letters(names: Sequence[str], seed: int = 0) -> list[str]:
    """Each name with its letters in random order: the same lengths and letters, no longer a name."""
    rng = random.Random(seed)
    return ["".join(rng.sample(name, len(name))) for name in names]


def name_quality(names: Sequence[str], corpus: Corpus, order: int = QUALITY_ORDER, seed: int = 0) -> Measured:
    """What an n-gram fitted on the training names makes of the sampled names that are new (not in the training
    split), per character, beside real held-out names that are new too, and the same real names with their letters
    shuffled; the claim that the RNN generates new *names* is judged on the first two."""
    training = corpus.split("train")
    known = set(_names(training))
    ngram = NGramModel.fit(training, order)
    new_sampled = [n for n in names if n not in known]
    held_out = [n for n in _names(corpus.split("val") + "\n" + corpus.split("test")) if n not in known]
    junk = shuffled_letters(held_out, seed)
    rows = [{"names": "sampled, new", "count": len(new_sampled), "nats/char": per_name_loss(ngram, new_sampled)},
            {"names": "real held-out, new", "count": len(held_out), "nats/char": per_name_loss(ngram, held_out)},
            {"names": "real held-out, letters shuffled", "count": len(junk), "nats/char": per_name_loss(ngram, junk)},
            {"names": "sampled, all (copies of training names too)", "count": len(names),
             "nats/char": per_name_loss(ngram, names)}]
    data = {"order": order, "sampled_new": rows[0]["nats/char"], "real_new": rows[1]["nats/char"],
            "shuffled": rows[2]["nats/char"], "sampled_all": rows[3]["nats/char"], "n_sampled_new": len(new_sampled),
            "n_real_new": len(held_out)}
    claim = quality_claim(data)
    shown = table(rows, f"the names under a {order}-gram fitted on the training names: nats per character (lower reads "
                        "more like the training names)")
    return Measured([shown], data, [claim])


def quality_claim(quality: dict[str, Any]) -> Claim:
    """Do the new sampled names cost the real names' n-gram about what new real names cost? The claim, by its rule."""
    ours, real, n = quality["sampled_new"], quality["real_new"], quality["n_sampled_new"]
    rule = (f"held when new sampled names cost a {quality['order']}-gram of the training names at most "
            f"{QUALITY_HELD:g} x the nats/char of new real held-out names, partly at most {QUALITY_PARTLY:g} x; "
            f"too few to judge below {QUALITY_MIN_NAMES} new names")
    if ours is None or real is None or n < QUALITY_MIN_NAMES:
        return Claim.of(NEW_NAMES, f"{n} new sampled names", TOO_FEW, rule, None, n)
    ratio = ours / real
    verdict = "held" if ratio <= QUALITY_HELD else "partly" if ratio <= QUALITY_PARTLY else "not"
    sentence = (f"the {n} new sampled names cost the training names' {quality['order']}-gram {ours:.2f} nats/char, new "
                f"real names {real:.2f} ({ratio:.2f} x); the same real names with shuffled letters "
                f"{quality['shuffled']:.2f}")
    return Claim.of(NEW_NAMES, sentence, verdict, rule, ratio, n)

