"""Option helpers shared by the task modules.

Numeric options are declared with string defaults and converted here, so a bad value ends in a
one-line Exit naming the option (invoke's own int() cast would end in a traceback).
"""

import shlex

from invoke import Exit


def number(kind, option: str, value):
    """int or float of a command-line value, or an Exit naming the option."""
    try:
        return kind(value)
    except (TypeError, ValueError):
        whole = "whole " if kind is int else ""
        raise Exit(f"--{option.replace('_', '-')} {value!r} is not a {whole}number — e.g. --{option.replace('_', '-')} 5") from None


def paths_after(c, first) -> list[str]:
    """The positional path plus any listed after `--` (invoke has no variadic positionals)."""
    return ([first] if first else []) + shlex.split(getattr(c, "remainder", "") or "")
