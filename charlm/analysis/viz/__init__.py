"""Looking inside a trained model: activations, two views of them, interpretable cells, the n-gram baseline.

Two pictures of a character model at work: (a) text coloured by one cell's activation (a cell that switches
on inside quotes, one that counts the position in a line) and (b) under each character the model's top five
guesses for the next one. This package computes what those pictures need and measures what they suggest:

    tr = trace(model, vocab, text)              # every layer's h (and LSTM c) after every character, top-k
    tr = trace_pieces(model, vocab, pieces)     # separate stretches (a striped split's), each after its context
    cell_html(tr, layer, unit)                  # (a) as self-contained HTML (shown in Jupyter, savable)
    topk_html(tr)                               # (b)
    labels = property_labels(tr.text)           # in quotes, in [[links]], in a URL, bracket depth, column...
    ranking = rank_cells(tr, labels)            # every unit scored on held-out text, best per property
    heatmap(tr, units=...)                      # cells x characters, matplotlib
    ngram_comparison(train, val, lstm_loss, orders)  # the counting baseline beside the LSTM

Modules: ``tracing`` (running the model), ``views`` (the two views as HTML, saving and checking pages), ``labels``
(properties of the text), ``cells`` (the search and its chance level), ``figures`` (views of the best cells,
heatmaps), ``baseline`` (n-grams).
"""

from charlm.analysis.viz.baseline import NgramComparison, ngram_comparison
from charlm.analysis.viz.cells import CellRanking, CellScore, rank_cells
from charlm.analysis.viz.figures import best_cells_html, heatmap, ranked_heatmap
from charlm.analysis.viz.labels import BINARY, PROPERTIES, property_labels
from charlm.analysis.viz.tracing import Trace, excerpt, excerpts, trace, trace_pieces
from charlm.analysis.viz.views import (Html, cell_html, check_html, document, join_html, save_html, shown_text, topk_html,
                                       visible, visible_text)

__all__ = [
    "BINARY", "CellRanking", "CellScore", "Html", "NgramComparison", "PROPERTIES", "Trace", "best_cells_html",
    "cell_html", "check_html", "document", "excerpt", "excerpts", "heatmap", "join_html", "ngram_comparison",
    "property_labels", "rank_cells", "ranked_heatmap", "save_html", "shown_text", "topk_html", "trace", "trace_pieces",
    "visible", "visible_text",
]
