"""The ``scratchpack`` command's entry point: ``--version`` is answered before the CLI loads.

Scripts, installers and CI probe a tool with ``--version``, and it should cost about what the
interpreter costs. Building the command-line parser imports argparse, pathlib, json and the
modules of every command, 2-3 times the interpreter's own start-up on this machine class
(docs/benchmarks.md, issue 17); everything else goes to ``scratchpack.cli.main``, which the
console script and ``python -m scratchpack`` reach through here.
"""

from __future__ import annotations

import sys

from scratchpack import __version__


def main() -> int:
    if sys.argv[1:] == ["--version"]:
        # as argparse's version action prints it, for the one spelling that needs no parser
        sys.stdout.write(f"scratchpack {__version__}\n")
        return 0
    if sys.argv[1:2] == ["lint"]:
        # a lint server started with `lint --daemon start` answers in a few ms what this
        # process would spend 5-7x hadolint's run loading (cli/lintserver.py); else lint here
        from scratchpack.cli.lintserver import forward

        served = forward(sys.argv[2:])
        if served is not None:
            return served
    try:
        from scratchpack.cli.main import main as run
    except KeyboardInterrupt:
        # Ctrl-C while the CLI's modules load (a fraction of a second, longer on a cold disk)
        # ends as an interrupted command does, not with a traceback of the import machinery
        sys.stderr.write("scratchpack: interrupted\n")
        return 130
    return run()
