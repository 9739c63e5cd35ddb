"""Command-line entry points: thin click layers over library functions."""
