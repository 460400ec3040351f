"""One module per CLI subcommand; each exposes ``register(subparsers)``.

`register` adds its parser and sets ``func`` (called with the parsed namespace,
returning an exit code). `walkforward.cli` registers the modules listed in
``COMMANDS``; each imports its heavy dependencies (torch, plotly, Ray) only when it runs,
so ``walkforward --help`` and the light commands start fast.
"""

#: Subcommand modules in the order `--help` lists them.
COMMANDS = ("run", "evaluate", "compare", "ledger", "report", "backtest", "inspect", "data", "features", "costs")
