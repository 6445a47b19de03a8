"""Fetch, verify and prepare the corpora of the post: ``python data/download.py --list | NAME... | all``.

The code is ``charlm.datasets`` (notebooks call ``charlm.datasets.path("linux")``); this file only runs it.
"""

import sys
from pathlib import Path

# Run from a checkout, use that checkout's charlm (also when it is not pip-installed).
_REPO = Path(__file__).resolve().parents[1]
if (_REPO / "charlm" / "__init__.py").is_file() and str(_REPO) not in sys.path:
    sys.path.insert(0, str(_REPO))

from charlm.datasets import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
