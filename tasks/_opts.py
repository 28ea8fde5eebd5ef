"""What every task module shares: the @task that turns UserError into one line, option checks, paths.

Numeric options are declared with string defaults and converted here, so a bad value ends in a
one-line Exit naming the option (invoke's own int() cast would end in a traceback).
"""

import functools
import sys

import invoke
from invoke import Exit
from invoke.parser.parser import ParseMachine

from fastcourse.errors import OptionError, UserError


def _one_line(fn):
    """Run a task body; an expected failure (UserError) becomes invoke's Exit with its one-line message."""
    @functools.wraps(fn)
    def body(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except UserError as e:
            raise Exit(str(e)) from None

    return body


OPTIONAL = set()  # (task name, argument) of positionals that may be left out


def task(*args, optional=(), **kwargs):
    """invoke's @task, with every UserError turned into a one-line Exit (one place for all tasks).

    `optional` names positional arguments that may be left out (`inv nb.run` and `inv nb.run PATH`);
    invoke itself requires every positional.
    """
    if len(args) == 1 and callable(args[0]) and not kwargs and not optional:
        return invoke.task(_one_line(args[0]))

    def decorate(fn):
        OPTIONAL.update((kwargs.get("name") or fn.__name__, a) for a in optional)
        positional = list(kwargs.pop("positional", None) or []) + list(optional)
        return invoke.task(*args, positional=positional or None, **kwargs)(_one_line(fn))

    return decorate


def _complete_context(self, _complete=ParseMachine.complete_context):
    """ParseMachine.complete_context, letting the positionals declared `optional` be left out (value "")."""
    if self.context:
        for arg in self.context.missing_positional_args:
            if (self.context.name.split(".")[-1], arg.name) in OPTIONAL:
                arg.value = ""
    _complete(self)


ParseMachine.complete_context = _complete_context


def number(kind, option: str, value, lo=None, hi=None):
    """int or float of a command-line value within [lo, hi], or an OptionError naming the option."""
    flag = f"--{option.replace('_', '-')}"
    try:
        n = kind(value)
    except (TypeError, ValueError):
        whole = "whole " if kind is int else ""
        raise OptionError(f"{flag} {value!r} is not a {whole}number — e.g. {flag} {lo if lo is not None else 5}") from None
    if (lo is not None and n < lo) or (hi is not None and n > hi) or n != n:
        span = f"from {lo} to {hi}" if hi is not None else f"at least {lo}"
        raise OptionError(f"{flag} {value} is out of range — use a value {span}")
    return n


def paths_after(c, first) -> list[str]:
    """The positional path plus any listed after `--`, each kept whole (spaces and all)."""
    argv = sys.argv
    if "--" in argv:
        rest = argv[argv.index("--") + 1:]
    else:
        import shlex

        rest = shlex.split(getattr(c, "remainder", "") or "")
    return ([first] if first else []) + rest
