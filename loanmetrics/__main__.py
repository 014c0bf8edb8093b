"""``python -m loanmetrics``: the same command line as the ``loanmetrics`` script."""

from loanmetrics.cli import main

raise SystemExit(main())
