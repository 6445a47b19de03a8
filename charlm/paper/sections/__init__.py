"""One module per section of the post, named by its chapter: what the notebook ``notebooks/NN_<chapter>.ipynb``
shows, in the order it shows it.

    helo.py         01  the "hello" example: the step API, the numpy RNN, one update
    paul_graham.py  02  temperature: the sweep, the greedy loop, invented words against temperature
    shakespeare.py  03  the n-gram beside the LSTM, the play's shape
    wikipedia.py    04  markup closed in order, parentheses, hallucinated URLs
    latex.py        05  environments closed, samples through pdflatex and the repairs each needs
    linux.py        06  brackets and indentation, syntax errors and undeclared variables
    names.py        07  invented names, and whether the new ones read as names
    evolution.py    08  samples while training, each of the post's stages judged at its iteration
    neurons.py      09  inside the model: the two views, the cell search (quote and line cells), the n-gram baseline,
                        04's and 06's cells
    comparison.py   10  the paper's Table 1 small: RNN, GRU and LSTM at matched sizes, gate saturation
    meta.py         11  the post's closing experiment: an RNN trained on the post's own source, at a low temperature

Each module owns its section's quotes of the post and their links, the thresholds its verdicts use (named
constants beside the quote they judge), its measurement glue, figures and claims. A section module is imported
by its notebook and its tests only; what any text or model can use lives in :mod:`charlm.analysis`.
"""
