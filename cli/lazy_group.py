"""A click group whose subcommands are imported only when invoked, so `--help` and startup stay fast,
and whose user-facing errors and warnings print as one line instead of a traceback or a source line."""

from __future__ import annotations

import importlib
import sys
import warnings

import click

# Errors caused by the user's input (missing file, bad value, unreadable store): one line, exit 2.
USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, OSError, KeyError)


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
        except USER_ERRORS as exc:
            message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
            click.echo(f"Error: {message}", err=True)
            sys.exit(2)
        finally:
            warnings.formatwarning = formatter


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    """A warning as the user sees it: `Warning: message`, without the file and source line of the code
    that raised it."""
    return f"Warning: {message}\n"
