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

# The first of the signals that stop a command as Ctrl-C does (SIGTERM, SIGHUP) that came
_stopped_by: list[int] = []


def _stop(signum: int, frame: object) -> None:
    """SIGTERM (``timeout``, ``docker stop``, a cancelled CI job) and SIGHUP (a closed
    terminal) end the command as Ctrl-C does: through every ``finally`` and context manager,
    so staging directories and temporary files are removed and locks released. Python's
    default for both is to die on the spot, which left a layout's ``.scratchpack.*.tmp``
    staging directory behind for the next writer to sweep."""
    if not _stopped_by:
        _stopped_by.append(signum)
    raise KeyboardInterrupt


def _stop_cleanly_on_termination() -> None:
    # imported here: signal loads enum, which a served `lint` never needs (cli/lintserver.py)
    import signal

    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) is signal.SIG_DFL:  # an ignored signal stays ignored (nohup)
            signal.signal(signum, _stop)


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
    _stop_cleanly_on_termination()
    from scratchpack.cli.visible import install

    install()  # foreign strings in our text output are shown, never obeyed (cli/visible.py)
    try:
        from scratchpack.cli.main import main as run

        code = run()
    except KeyboardInterrupt:
        # Ctrl-C while the CLI's modules load or its parser is built (a fraction of a second,
        # more on a loaded machine or a cold disk: the command's own handler is not there
        # yet) ends as an interrupted command does, not with a traceback
        sys.stderr.write("scratchpack: interrupted\n")
        code = 130
    return _interrupted_code(code) if code == 130 else code


def _interrupted_code(code: int) -> int:
    """128 + the signal's number, as shells report it: 130 for Ctrl-C, 143 for SIGTERM."""
    return 128 + _stopped_by[0] if _stopped_by else code
