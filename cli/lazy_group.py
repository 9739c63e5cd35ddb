"""A click group whose subcommands are imported only when invoked, so `--help` and startup stay fast,
and whose user-facing errors and warnings print as one line instead of a traceback or a source line.

Errors of the user's input (flowkit.errors.UserError: bad option, missing file, damaged store) and of
the machine's state (a full or read-only disk, no permission) print `Error: message` and exit with
status 2. Any other exception is a bug: its traceback is printed, then a line asking to report it
(exit status 1)."""

from __future__ import annotations

import errno
import importlib
import sys
import traceback
import warnings

import click

from flowkit.errors import UserError

# OSErrors that describe the machine, never a bug in the code: one line, like a user error.
MACHINE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM})
BUG_EXIT_CODE = 1
USER_EXIT_CODE = 2
REPORT_LINE = ("This is a bug in flowkit/tsn, not in your input: please report it with the command you ran and "
               "the traceback above.")


def is_user_error(exc: BaseException) -> bool:
    """Whether `exc` is the user's to fix (one line) rather than a bug (traceback)."""
    return isinstance(exc, UserError) or (isinstance(exc, OSError) and exc.errno in MACHINE_ERRNOS)


class LazyGroup(click.Group):
    """click.Group taking `lazy_commands={"name": "package.module:attr"}`."""

    def __init__(self, *args, lazy_commands: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands or {})

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(self.lazy_commands))

    def get_command(self, ctx, cmd_name):
        if cmd_name in self.lazy_commands:
            module_name, attr = self.lazy_commands[cmd_name].split(":")
            return getattr(importlib.import_module(module_name), attr)
        return super().get_command(ctx, cmd_name)

    def main(self, *args, **kwargs):
        formatter = warnings.formatwarning
        warnings.formatwarning = _one_line_warning
        try:  # (click's overloads cannot match a forwarded *args)
            return super().main(*args, standalone_mode=False, **kwargs)  # type: ignore[call-overload]
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted.", err=True)
            sys.exit(1)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except Exception as exc:
            if is_user_error(exc):
                click.echo(f"Error: {exc}", err=True)
                sys.exit(USER_EXIT_CODE)
            traceback.print_exc()
            click.echo(REPORT_LINE, err=True)
            sys.exit(BUG_EXIT_CODE)
        finally:
            warnings.formatwarning = formatter


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    """A warning as the user sees it: `Warning: message`, without the file and source line of the code
    that raised it."""
    return f"Warning: {message}\n"
