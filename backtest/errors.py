"""Exceptions for bad user input.

Everything a user can get wrong (files, configs, CLI values, checkpoints) raises a
subclass of `UserError`; the CLI turns it into one line on stderr and exit code 2.
Programming errors stay ordinary exceptions and keep their tracebacks.
"""


class UserError(Exception):
    """Input from the user is wrong; the message says what, where, and how to fix it."""


class DataError(UserError, ValueError):
    """A bar file or bar series is unusable (missing columns, bad timestamps, bad prices...)."""


class ConfigError(UserError, ValueError):
    """A configuration value (TOML, CLI flag or constructor argument) is invalid."""


class SchemaMismatchError(UserError, ValueError):
    """A checkpoint's feature schema or action space differs from the one asked for."""


class CheckpointError(UserError, ValueError):
    """A checkpoint file is unreadable, untrusted or incomplete."""
