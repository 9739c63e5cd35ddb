"""Subcommands of `tsn`, one module each."""
