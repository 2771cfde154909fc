"""``python -m config`` is the ``genomseq`` command."""

from config.cli import main

main()
