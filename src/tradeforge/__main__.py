"""``python -m tradeforge`` runs the CLI."""

from tradeforge.cli import main

main()
