"""Subcommands of `flowkit`, one module each."""
