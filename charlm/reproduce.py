"""``python -m charlm.reproduce``: the README's command, kept where readers type it (see charlm.paper.reproduce)."""

from charlm.paper.reproduce import main

if __name__ == "__main__":
    raise SystemExit(main())
