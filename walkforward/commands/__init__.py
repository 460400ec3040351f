"""One module per CLI subcommand; each exposes ``register(subparsers)``.

`register` adds its parser and sets ``func`` (called with the parsed namespace,
returning an exit code). `walkforward.cli` imports the modules listed in
``COMMANDS`` lazily, so a missing optional dependency of one command never breaks
the others.
"""

#: Subcommand modules in the order `--help` lists them.
COMMANDS = ("run", "evaluate", "compare", "ledger", "report", "backtest", "inspect", "data", "features", "costs")
