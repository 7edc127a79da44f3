"""What the command lines share: argparse with one-line errors, and a guard that turns file-system
errors into one line naming the path. Every error exits with status 2.

numerics keeps its own copy (numerics/_cli.py): theory and numerics never import each other. verify
imports this one.
"""

from __future__ import annotations

import argparse
import os
import re
import sys

__all__ = ["OneLineParser", "run_guarded"]

#: a negative number, scientific notation included ("-1e4"): argparse's own pattern misses it and takes
#: "--b -1e4" for a missing value followed by an option
NEGATIVE_NUMBER = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^-inf(inity)?$", re.IGNORECASE)


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit status 2, and "-1e4" is a number."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = NEGATIVE_NUMBER

    def error(self, message):  # noqa: D401 - argparse API
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


def run_guarded(prog: str, main, argv=None) -> int:
    """``main(argv)``, with a file-system error (a read-only folder, a path under a file, a full disk) as
    one line naming the path and exit status 2, and a reader that went away (``| head``) as no error."""
    try:
        return main(argv)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:
        where = f" {exc.filename!s}" if getattr(exc, "filename", None) else ""
        sys.stderr.write(f"{prog}: error:{where}: {exc.strerror or exc}\n")
        return 2
