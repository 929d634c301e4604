"""``python -m tradeforge`` runs the command as the console script does."""

from tradeforge._console import run

run()
