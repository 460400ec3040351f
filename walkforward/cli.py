"""The `walkforward` command line: dispatch to subcommands and map errors to exit codes.

Exit codes: 0 done, 2 bad input (one line on stderr, never a traceback), 130
interrupted (a rerun resumes).
"""

from __future__ import annotations

import argparse
import errno
import importlib
import sys
import warnings

from backtest.errors import UserError
from walkforward.commands import COMMANDS

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
#: Write failures reported as one line (a full disk, a read-only or missing output location).
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR}


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line and exit code 2."""

    def error(self, message: str) -> None:  # noqa: D401 - argparse hook
        raise UserError(f"{self.prog}: {message} (see `{self.prog} --help`)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="walkforward",
        description="Walk-forward validation and friction-aware backtests of PPO trading policies.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        importlib.import_module(f"walkforward.commands.{name}").register(sub)
    return parser


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings as one ``warning: ...`` line each (no source line), like errors."""
    text = " ".join(str(message).split("\n"))
    print(f"warning: {text}", file=sys.stderr if file is None else file)


def main(argv: list[str] | None = None) -> int:
    previous_hook, warnings.showwarning = warnings.showwarning, _one_line_warning
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if hasattr(args, "argv") and args.argv is None:  # commands that record their command line
            args.argv = list(sys.argv[1:] if argv is None else argv)
        if getattr(args, "func", None) is None:
            parser.print_help(sys.stderr)
            return EXIT_BAD_INPUT
        return int(args.func(args) or EXIT_OK)
    except UserError as exc:
        message = " ".join(str(exc).split("\n"))
        print(f"error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted: completed work is saved; rerun the same command to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK
    except OSError as exc:
        if exc.errno not in _WRITE_ERRNOS:
            raise
        where = f" {exc.filename!r}" if exc.filename else ""
        print(f"error: cannot write{where}: {exc.strerror}; free space or choose a writable --out "
              f"(completed work is kept; rerun to resume)", file=sys.stderr)
        return EXIT_BAD_INPUT
    finally:
        warnings.showwarning = previous_hook
