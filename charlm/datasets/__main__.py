from charlm.datasets import main

raise SystemExit(main())
