"""The companion to the post: everything a section notebook calls that needs a run or a corpus.

    presets.py + presets/NN_section.toml   what each notebook trains and samples, every profile spelled out
    notebook.py                            setup, the corpus, training or loading a run, the loss curve, the record
    sections.py                            what particular sections measure (temperature, names, evolution, claims)
    results.py                             the results record and results.md beside the published figures
    reproduce.py                           ``python -m charlm.reproduce``: papermill over notebooks/
    book.py                                ``make book``: the committed runs in outputs/ as a static site
    readme.py                              the README's results block, generated from outputs/*/results.json

The top layer below the command line: it may import ``charlm.analysis``, ``charlm.datasets`` and the engine,
and it stays within 2,200 lines and below the engine (tests/test_architecture.py): measures that need no run live in analysis.
"""
