"""``--check CMD``: run a probe command in an image, the way it will run, before anyone ships it.

``pack`` (every kind) calls it on the image it has just assembled, before the output is
written: a probe that fails means nothing is written. ``audit IMAGE --check CMD`` runs the
same probe on an existing image. Reading the files (``audit``'s will-it-start check) says
whether the loader and libraries are there; only running the program says whether it starts
and does its job, so the probe runs it under a real engine, locked down the way a careful
deployment runs it: ``--read-only --cap-drop ALL --network none`` as the run user, with a
``--tmpfs /tmp``. A program that passes there passes in any less strict setting.

The image is written as a docker archive in a scratch directory and loaded into the engine
(podman, or dockerd when podman is missing), run by its image id. The engine's copy
of the image is removed afterwards unless it was there before, and a probe that outlives
``--check-timeout`` is killed by its container name.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from scratchpack import progress
from scratchpack.errors import ScratchpackError, UsageError
from scratchpack.fsutil import scratch_directory
from scratchpack.model.image import Image
from scratchpack.transports.names import ArchiveName

DEFAULT_TIMEOUT = 60.0
TAIL_LINES = 20  # of the probe's stdout and stderr shown when it fails
_ENGINE_TIMEOUT = 120.0  # seconds for the engine's own steps (load, image removal)


@dataclass(frozen=True)
class ProbeSpec:
    """What to run: ``command`` as the entrypoint's arguments, or with ``entrypoint`` as
    another program (``--check-entrypoint``); ``user`` is ``UID:GID`` (None: the image's)."""

    command: list[str]
    entrypoint: list[str] | None = None
    timeout: float = DEFAULT_TIMEOUT
    user: str | None = None

    def __post_init__(self) -> None:
        if not self.timeout > 0:
            raise UsageError("--check-timeout must be a positive number of seconds")
        if self.entrypoint is not None and not self.entrypoint:
            raise UsageError("--check-entrypoint must name a program")


@dataclass(frozen=True)
class ProbeResult:
    engine: str
    argv: list[str]  # what ran inside the container: entrypoint + arguments
    exit_code: int | None  # None: killed at the timeout
    seconds: float  # the run's, up to the kill when it timed out
    stdout: str
    stderr: str

    @property
    def passed(self) -> bool:
        return self.exit_code == 0

    def summary(self) -> str:
        shown = " ".join(self.argv) if self.argv else "(the image's command)"
        how = (
            f"timed out after {self.seconds:.0f} s"
            if self.exit_code is None
            else f"exited {self.exit_code} in {self.seconds:.1f} s"
        )
        return f"{shown} under {self.engine} ({_LOCKDOWN}): {how}"

    def tail(self) -> list[str]:
        """The last lines of the probe's stdout and stderr, labelled, for a failure."""
        lines: list[str] = []
        for label, text in (("stdout", self.stdout), ("stderr", self.stderr)):
            kept = text.rstrip("\n").splitlines()[-TAIL_LINES:]
            lines.extend(f"{label}| {line}" for line in kept)
        return lines

    def to_json(self) -> dict[str, object]:
        return {
            "engine": self.engine,
            "argv": self.argv,
            "exit_code": self.exit_code,
            "seconds": round(self.seconds, 3),
            "passed": self.passed,
            "stdout_tail": self.stdout[-4000:],
            "stderr_tail": self.stderr[-4000:],
        }


_LOCKDOWN = "read-only, no capabilities, no network"


class ProbeFailed(ScratchpackError):
    """The probe exited non-zero or timed out: the image is not written (exit code 1).
    ``result`` holds its output, which the CLI shows above the error line."""

    def __init__(self, result: ProbeResult, what: str) -> None:
        super().__init__(f"--check failed: {result.summary()}; {what}")
        self.result = result


def engine() -> str:
    """podman when installed (it runs an OCI layout without a daemon), else docker."""
    for name in ("podman", "docker"):
        if shutil.which(name):
            return name
    raise ScratchpackError(
        "--check runs the image under podman or docker, and neither is installed "
        "(apt-get install podman)"
    )


def image_argv(image: Image, spec: ProbeSpec) -> list[str]:
    """What the container will exec: the image's entrypoint (or ``--check-entrypoint``)
    followed by the probe's arguments, which replace the image's CMD."""
    entrypoint = spec.entrypoint if spec.entrypoint is not None else image.config.entrypoint
    return [*(entrypoint or []), *spec.command]


def run_probe(image: Image, spec: ProbeSpec, scratch: Path) -> ProbeResult:
    """Run ``spec`` in ``image`` (loaded from an archive written under ``scratch``) and
    return what happened; failures are results, not exceptions, except when no engine can
    run it at all."""
    # the archive writer (and its compressors) only when a probe runs: `audit` imports this
    # module for every image, most of them without --check
    from scratchpack.transports.dispatch import write_image

    tool = engine()
    with scratch_directory(scratch, "probe") as work, progress.step("running the --check probe"):
        archive = work / "probe.tar"
        # an archive, not podman's oci:DIR: podman names an image by its layout's path, and
        # a scratch directory's (dot-prefixed) path is not a valid image name
        write_image(ArchiveName(archive, None), image)
        ref = image.config_digest.hex if tool == "podman" else str(image.config_digest)
        existed = _engine(tool, "image", "inspect", ref).returncode == 0
        loaded = _engine(tool, "load", "-i", str(archive))
        if loaded.returncode != 0:
            raise ScratchpackError(f"--check: {tool} load failed: {loaded.stderr.strip()[-500:]}")
        try:
            return _run(tool, ref, image, spec)
        finally:
            if not existed:
                _engine(tool, "rmi", "--force", ref)


def _run(tool: str, ref: str, image: Image, spec: ProbeSpec) -> ProbeResult:
    import secrets  # here: it loads random, and `audit` imports this module on every run

    name = f"scratchpack-probe-{secrets.token_hex(6)}"
    argv = [tool, "run", "--rm", "--name", name, "--read-only", "--cap-drop", "ALL", "--network",
            "none", "--tmpfs", "/tmp", "--security-opt", "no-new-privileges"]  # fmt: skip
    if spec.user is not None:
        argv += ["--user", spec.user]
    args = list(spec.command)
    if spec.entrypoint is not None:
        if tool == "podman":
            argv += ["--entrypoint", json.dumps(spec.entrypoint)]
        else:  # docker's --entrypoint takes one program; its arguments go first
            argv += ["--entrypoint", spec.entrypoint[0]]
            args = [*spec.entrypoint[1:], *args]
    argv += [ref, *args]
    started = time.monotonic()
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=spec.timeout, check=False)
        code: int | None = proc.returncode
        out, err = proc.stdout, proc.stderr
        seconds = time.monotonic() - started
    except subprocess.TimeoutExpired as exc:
        seconds = time.monotonic() - started
        _engine(tool, "kill", name)  # at once: `rm --force` would wait out a stop timeout
        _engine(tool, "rm", "--force", name)
        code = None
        out, err = exc.stdout or b"", exc.stderr or b""
    except OSError as exc:
        raise ScratchpackError(f"--check: cannot run {tool}: {exc.strerror or exc}") from exc
    return ProbeResult(tool, image_argv(image, spec), code, seconds,
                       out.decode(errors="replace"), err.decode(errors="replace"))  # fmt: skip


def _engine(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            [tool, *args], capture_output=True, text=True, timeout=_ENGINE_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ScratchpackError(f"--check: {tool} {args[0]} failed: {exc}") from exc


def check_or_refuse(image: Image, spec: ProbeSpec, scratch: Path, what: str) -> ProbeResult:
    """``run_probe``, raising ``ProbeFailed`` (with ``what`` happened instead) on failure."""
    result = run_probe(image, spec, scratch)
    if not result.passed:
        raise ProbeFailed(result, what)
    return result
