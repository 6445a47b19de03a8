"""The companion to the post: each section of it as a notebook, and what those notebooks share.

    sections/<chapter>.py                  one module per notebook (helo.py for 01_helo ... meta.py for 11):
                                           its quotes of the post, the thresholds that judge them, its measurement
                                           glue, figures and claims. Imported by its notebook and its tests only.
    notebook.py                            what every notebook calls (as ``nb``): setup and Section (where runs are
                                           written and found), the corpus, training or loading, the loss curve,
                                           samples beside held-out text, the record
    claims.py                              the post and the paper as sources: Said, Claim, verdict helpers
    results.py                             the results record (typed both ways) and results.md beside the published
                                           figures
    presets.py + presets/NN_section.toml   what each notebook trains and samples, every profile spelled out
    reproduce.py                           ``python -m charlm.reproduce``: papermill over notebooks/
    book.py                                ``make book``: the committed runs in outputs/ as a static site
    readme.py                              the README's results block, generated from outputs/*/results.json

The top layer below the command line: it may import ``charlm.analysis``, ``charlm.datasets`` and the engine.
What any text or model can use (n-grams, text statistics, tracing and cell search, displays, widgets) lives in
``charlm.analysis``; what names the post, the paper, a section or a run folder lives here
(tests/test_architecture.py checks both).
"""
