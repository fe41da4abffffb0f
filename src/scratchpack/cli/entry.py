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


# Commands after which the process ends without the interpreter's teardown (:func:`run`):
# every file copy and pack write is closed (and fsynced) inside its own ``with`` blocks before
# they return (layer blobs, the layout's staging and commit, the docker-archive's atomic file,
# --digestfile; a daemon's load and a registry's push are answered before), their threads
# (compression, the background layer, fsyncs, a push's pool) are joined there, and their
# scratch directories removed in ``finally``: nothing is left for teardown to flush but the
# standard streams. For pack the teardown was ~18 ms, ~8% of a 5 MB static pack's CPU
# (docs/benchmarks.md).
_QUICK_EXIT = frozenset({"copy", "pack"})


def run() -> None:
    """The process entry (``python -m scratchpack`` and the console script): :func:`main`,
    then, after a command in ``_QUICK_EXIT``, ``os._exit`` once stdout and stderr are flushed
    and the ``atexit`` handlers have run. Tearing down the ~300 modules a registry copy loads
    (httpx, msgspec, the image model) cost about 17 ms of CPU after the last byte had moved:
    a quarter of a no-op re-push's wall time (issue 17, docs/benchmarks.md). Whenever that
    shortcut is not clearly safe (another thread still running, a stream that cannot be
    flushed, e.g. a closed pipe) the process exits the ordinary way, which reports it."""
    code = main()
    if sys.argv[1:2] and sys.argv[1] in _QUICK_EXIT and _teardown_done():
        import os

        os._exit(code)
    raise SystemExit(code)


def _teardown_done() -> bool:
    """What an ordinary exit does that matters once the command returned: no other thread
    left to join, the standard streams flushed, the ``atexit`` handlers (``weakref.finalize``,
    a coverage tool, logging) run. False: leave it to the ordinary exit."""
    import atexit
    import threading

    if threading.active_count() > 1:
        return False
    atexit._run_exitfuncs()  # (and forgets them: an ordinary exit after this does not rerun them)
    try:
        for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            if stream is not None:
                stream.flush()  # after the handlers, which may have written
    except (OSError, ValueError):
        return False
    return True


def _interrupted_code(code: int) -> int:
    """128 + the signal's number, as shells report it: 130 for Ctrl-C, 143 for SIGTERM."""
    return 128 + _stopped_by[0] if _stopped_by else code
