"""What every task module shares: the one boundary for expected failures, option checks, paths after `--`.

Every task is declared with `task` here: a UserError, the file system's answers (disk full, read-only,
permission, missing) and Ctrl-C end in one line and exit code 1; anything else is a bug and keeps its
traceback, followed by where to report it. Numeric options are declared with string defaults and converted
by `number`, so a bad value is a one-line message naming the option (invoke's own int() would be a traceback).
"""

import functools
import os
import signal
import sys
import traceback

import invoke
from invoke import Exit
from invoke.parser.parser import ParseMachine

from fastcourse.errors import REPORT_BUGS, OptionError, one_line


def boundary(fn):
    """Run a task body; expected failures become one line on stderr and exit 1 (see the module docstring)."""
    @functools.wraps(fn)
    def body(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exit:
            raise
        except KeyboardInterrupt as e:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C while we stop: no traceback
            _stop(one_line(e))
        except BrokenPipeError:  # `inv predict ... | head`: the reader stopped reading; so do we, quietly
            _stdout_to_devnull()
            os._exit(0)
        except BaseException as e:  # noqa: B902 — sorted below: expected failures, or a bug
            line = one_line(e)
            if line is None:
                if isinstance(e, SystemExit):
                    raise
                traceback.print_exc()
                raise Exit(REPORT_BUGS, code=1) from None
            raise Exit(line, code=1) from None

    return body


def _stdout_to_devnull() -> None:
    """Point stdout at /dev/null, so the flush at exit has nowhere closed to write to."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _quiet_broken_pipe(kind, value, tb, _hook=sys.excepthook):
    """sys.excepthook: invoke's own output (`inv deploy -h | head`) into a closed pipe ends quietly, as in boundary."""
    if issubclass(kind, BrokenPipeError):
        _stdout_to_devnull()
        return
    _hook(kind, value, tb)


sys.excepthook = _quiet_broken_pipe


def _stop(line: str) -> None:
    """End now with the interrupted line: work still in flight (a download thread) is not waited for;
    everything written so far was written atomically."""
    print(line, file=sys.stderr, flush=True)
    sys.stdout.flush()
    os._exit(1)


OPTIONAL = set()  # (task name, argument) of positionals that may be left out
VARIADIC = set()  # task names whose positional takes any number of values (inv predict a.png b.png dir/)
EXTRA: list[str] = []  # the values after a variadic task's first positional, in order


class Task(invoke.Task):
    """invoke's Task whose automatic short flags never take `-h`: `inv TASK -h` is help on every task."""

    def arg_opts(self, name, default, taken_names):
        return super().arg_opts(name, default, set(taken_names) | {"h"})


def task(*args, optional=(), variadic=False, **kwargs):
    """invoke's @task through the boundary (see Task for short flags).

    `optional` names positional arguments that may be left out (`inv nb.run` and `inv nb.run PATH`);
    invoke itself requires every positional. `variadic`: the task's positional takes any number of values,
    with options anywhere among them (read them with `paths_after`).
    """
    if len(args) == 1 and callable(args[0]) and not kwargs and not optional:
        return invoke.task(klass=Task)(boundary(args[0]))

    def decorate(fn):
        OPTIONAL.update((kwargs.get("name") or fn.__name__, a) for a in optional)
        if variadic:
            VARIADIC.add(kwargs.get("name") or fn.__name__)
        positional = list(kwargs.pop("positional", None) or []) + list(optional)
        return invoke.task(*args, positional=positional or None, klass=Task, **kwargs)(boundary(fn))

    return decorate


def _complete_context(self, _complete=ParseMachine.complete_context):
    """ParseMachine.complete_context, letting the positionals declared `optional` be left out (value ""), and
    any positional when the task's help was asked for (`inv deploy -h` needs no --space)."""
    if self.context:
        helping = self.initial is not None and "--help" in self.initial.flags and \
            self.initial.flags["--help"].value == self.context.name
        for arg in self.context.missing_positional_args:
            if helping or (self.context.name.split(".")[-1], arg.name) in OPTIONAL:
                arg.value = ""
    _complete(self)


ParseMachine.complete_context = _complete_context


def _handle(self, token, _handle=ParseMachine.handle):
    """ParseMachine.handle, keeping every further value of a variadic task's positional (a task name is still
    a task, unless a file of that name exists), and `-h` as help on every task, before its positionals."""
    ctx = self.context
    if ctx is not None and self.initial is not None and token in ("-h", "--help") and token in self.initial.flags:
        self.initial.flags[token].value = ctx.name  # help on this task, even where a positional is still open
        return
    if (ctx is not None and token.startswith("-") and len(token) > 1 and not self.waiting_for_flag_value
            and ctx.missing_positional_args and token not in ctx.flags and token not in ctx.inverse_flags
            and not (self.initial is not None and token in self.initial.flags)):
        self.error(f"No idea what {token!r} is!")  # not the positional's value: a misspelt option (--modle)
    if (ctx is not None and (ctx.name or "").split(".")[-1] in VARIADIC and self.current_state != "unknown"
            and not self.waiting_for_flag_value and not token.startswith("-") and not ctx.missing_positional_args
            and (token not in self.contexts or os.path.exists(token))):
        EXTRA.append(token)
        return
    _handle(self, token)


ParseMachine.handle = _handle


def _short(ctx) -> str:
    """The shortest name a task answers to (`deploy` for deploy.space)."""
    return min([ctx.name, *ctx.aliases], key=len)


def _error(self, msg, _error=ParseMachine.error):
    """ParseMachine.error, naming the closest task or option for a misspelt one (`inv trian`: did you mean
    'train'?) and where the full list is; a missing required option is named with its help."""
    import difflib

    missing = self.context.missing_positional_args if self.context is not None else []
    if missing and "did not receive required positional arguments" in msg:
        arg, short = missing[0], _short(self.context)
        what = "a PATH" if arg.name == "path" else f"--{arg.name.replace('_', '-')}"  # paths are given bare
        msg = f"inv {short} needs {what} ({arg.help}) — inv {short} -h shows every option"
    token = msg[len("No idea what '"):-len("' is!")] if msg.startswith("No idea what '") else None
    if token is not None:
        flag = token.startswith("-") and self.context is not None
        names = list(self.context.flags) if flag else [*self.contexts, *self.contexts.aliases]
        bare = {n.lstrip("-"): n for n in names if not flag or n.startswith("--")}  # `--bogus` is not `--bs`
        close = [bare[m] for m in difflib.get_close_matches(token.split("=")[0].lstrip("-"), bare, n=1, cutoff=0.7)]
        where = f"inv {_short(self.context)} -h" if flag else "inv --list"
        msg = f"{msg[:-1]} — " + (f"did you mean {close[0]!r}? " if close else "") + f"({where} shows them all)"
    _error(self, msg)


ParseMachine.error = _error


def number(kind, option: str, value, lo=None, hi=None):
    """int or float of a command-line value within [lo, hi], or an OptionError naming the option."""
    flag = f"--{option.replace('_', '-')}"
    try:
        n = kind(value)
    except (TypeError, ValueError):
        whole = "whole " if kind is int else ""
        raise OptionError(f"{flag} {value!r} is not a {whole}number — use {_span(lo, hi, kind)}") from None
    if (lo is not None and n < lo) or (hi is not None and n > hi) or n != n:
        raise OptionError(f"{flag} {value} is out of range — use {_span(lo, hi, kind)}")
    return n


def _span(lo, hi, kind) -> str:
    """The values an option takes, in words: 'a value from 1 to 65535', 'a value at least 1', 'a number like 0.5'."""
    if hi is not None:
        return f"a value from {lo} to {hi}"
    if lo is not None:
        return f"a value at least {lo}"
    return "a number like 0.5" if kind is float else "a whole number like 3"


def paths_after(c, first, options=()) -> list[str]:
    """The positional path, any further ones (variadic tasks) and any listed after `--`, each kept whole
    (spaces and all). An option among the paths after `--` is refused: it would be read as a file name."""
    argv = sys.argv
    if "--" in argv:
        rest = argv[argv.index("--") + 1:]
    else:
        import shlex

        rest = shlex.split(getattr(c, "remainder", "") or "")
    misplaced = [r for r in rest if r.split("=")[0] in options]
    if misplaced:
        raise OptionError(f"{misplaced[0]} after `--` would be read as a file name — put options before `--`, or "
                          f"leave `--` out: the paths can come in any order with the options")
    return ([first] if first else []) + EXTRA + rest


def model_folder(model: str, code: str | None = None):
    """The portable folder a task serves: models/NAME (or any folder), or a fastai model.pkl converted once
    (fastcourse.train.convert) — with `code`, the file defining what the pickle needs from a notebook."""

    from fastcourse.paths import project_root

    path = project_root() / model
    if path.suffix == ".pkl" or path.is_file():
        from fastcourse.train.convert import convert

        return convert(path, project_root(), project_root() / code if code else None)
    if code:
        raise OptionError("--code is for a model.pkl (a fastai export): a models/NAME folder needs none")
    return path
