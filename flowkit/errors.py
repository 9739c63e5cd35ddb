"""Errors the user can fix: a bad option or value, a missing or unreadable input, an output in the way,
a damaged store (and `create_output_folder`, which turns a folder that cannot be made into one). The
command line prints them as one line (`Error: message`, exit status 2); every
other exception is a bug and keeps its traceback.

Each is also the built-in type library callers expect (UserValueError is a ValueError, ...), so code
that catches ValueError or FileNotFoundError keeps working. The message is the only argument, so they
survive pickling (Ray, DataLoader workers) unchanged.
"""

from __future__ import annotations

import os


class UserError(Exception):
    """Base of the errors caused by the user's input (module docstring); raise a subclass."""


class UserValueError(UserError, ValueError):
    """A value the user gave (option, setting, file content, list entry) is invalid."""


class UserFileNotFoundError(UserError, FileNotFoundError):
    """A file or folder the user named does not exist."""


class UserFileExistsError(UserError, FileExistsError):
    """An output the user named already exists (and replacing it was not asked for)."""


class UserIsADirectoryError(UserError, IsADirectoryError):
    """The user named a folder where a file is needed."""


class UserOSError(UserError, OSError):
    """A path the user named cannot be read or written (permissions, format the writer does not know)."""


class UserKeyError(UserError, KeyError):
    """A name the user asked for (a video, a checkpoint key) is not there."""

    def __str__(self) -> str:  # KeyError's str() quotes the message
        return str(self.args[0]) if self.args else ""


def create_output_folder(folder: str | os.PathLike) -> None:
    """Create `folder` and its parents for an output the user named; UserOSError, one line, when that is
    impossible (a parent is a file, no permission, a read-only or full disk)."""
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise UserOSError(f"cannot create the folder {folder}: {exc.strerror or exc}") from None
