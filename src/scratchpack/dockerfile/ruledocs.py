"""How each rule's doc is shown: ``docs/rules/SPxxx.md`` and its index
(``scripts/gen-rule-docs``), the SARIF help, and the table of hadolint's codes.

The docs themselves (why, a bad and a good Dockerfile, the fix) are written beside each rule,
in its family module (``RuleDoc`` in ``rules/core.py``): the tests lint every bad example
(its rule must fire) and every good one (it must not), and ``scratchpack lint --explain CODE``
prints them. Only ``--explain``, SARIF and the page generator import this module: a lint
builds no doc.
"""

from __future__ import annotations

from scratchpack.dockerfile.rules import DOC_SOURCES, RULES, RuleDoc

# every rule's doc, in the rules' order (the rules import nothing from here)
DOCS: dict[str, RuleDoc] = {code: DOC_SOURCES[code]() for code in RULES}


def render_page(code: str) -> str:
    rule, doc = RULES[code], DOCS[code]
    peers = ", ".join([*rule.hadolint, *([rule.dockle] if rule.dockle else [])]) or "none"
    buildkit = f" · BuildKit: {rule.buildkit}" if rule.buildkit else ""
    off = (
        ""
        if rule.default
        else "Off by default: turn it on with a severity for it in the configuration "
        f'(`[severity] {code} = "info"`, or hadolint\'s `override`)'
        + (f" or `# check=experimental={rule.buildkit}`" if rule.buildkit else "")
        + ".\n\n"
    )
    return (
        f"# {code}: {rule.title}\n\n"
        f"Severity: **{rule.severity}** · Category: **{rule.category}** · "
        f"Equivalent: {peers}{buildkit}\n\n{off}"
        f"## Why it matters\n\n{doc.why}\n\n"
        f"## Bad\n\n```dockerfile\n{doc.bad}```\n{_context(doc.bad_context)}\n"
        f"## Good\n\n```dockerfile\n{doc.good}```\n{_context(doc.good_context)}\n"
        f"{_config(doc.config)}"
        + (f"## What it cannot tell\n\n{doc.limits}\n\n" if doc.limits else "")
        + f"## Fix\n\n{doc.fix}\n\n{_automatic(code)}"
        f"Ignore it for one instruction with `# scratchpack ignore={code}` on the line above"
        + (f" (or `# hadolint ignore={rule.hadolint[0]}`)" if rule.hadolint else "")
        + (
            f" (or `# scratchpack ignore={rule.buildkit}`; `# check=skip={rule.buildkit}` "
            "skips it in the whole file, as in BuildKit)"
            if rule.buildkit
            else ""
        )
        + ", or everywhere with `--ignore "
        + code
        + "`.\n"
    )


def _automatic(code: str) -> str:
    """The rule's ``lint --fix`` and its tier, from the fix's own metadata."""
    from scratchpack.dockerfile.fix import FIXES  # fix imports nothing from here

    kind = FIXES.get(code)
    if kind is None:
        return ""
    if not kind.unsafe:
        return f"`lint --fix` {kind.does} (a safe fix).\n\n"
    when = f" {kind.unsafe_when}" if kind.unsafe_when else ""
    return (
        f"`lint --fix` {kind.does}. It is an unsafe fix{when}, made only with "
        f"`--unsafe-fixes`: {kind.unsafe}.\n\n"
    )


def _config(text: str) -> str:
    if not text:
        return ""
    return f"With this configuration (`.scratchpack.toml`):\n\n```toml\n{text}```\n\n"


def _context(files: tuple[tuple[str, str], ...]) -> str:
    if not files:
        return ""
    listed = "".join(f"\n`{name}`:\n\n```\n{content}```\n" for name, content in files)
    return f"\nBuild context:\n{listed}"


# hadolint's DL rules (its README's table, and the ones it removed), in our words, and why a
# code has no scratchpack rule when none declares it: the index shows every code either way.
HADOLINT: dict[str, tuple[str, str]] = {
    "DL1001": ("inline ignore pragmas", ""),
    "DL3000": ("relative WORKDIR", ""),
    "DL3001": ("commands pointless in a container (ssh, vim, service...)", ""),
    "DL3002": ("last USER is root", ""),
    "DL3003": ("cd instead of WORKDIR", ""),
    "DL3004": ("sudo", ""),
    "DL3005": ("apt-get upgrade", "removed from hadolint; SP203 still reports upgrades"),
    "DL3006": ("FROM without a tag", ""),
    "DL3007": ("FROM ...:latest", ""),
    "DL3008": ("apt-get install without versions", ""),
    "DL3009": ("apt lists not deleted", ""),
    "DL3010": ("COPY and extract where ADD extracts", ""),
    "DL3011": ("port outside 0-65535", ""),
    "DL3012": ("more than one HEALTHCHECK", "not implemented yet"),
    "DL3013": ("pip install without versions", ""),
    "DL3014": ("apt-get install without -y", ""),
    "DL3015": ("apt-get install without --no-install-recommends", ""),
    "DL3016": ("npm install without versions", ""),
    "DL3017": ("apk upgrade", "removed from hadolint"),
    "DL3018": ("apk add without versions", ""),
    "DL3019": ("apk add without --no-cache", ""),
    "DL3020": ("ADD for files and folders", ""),
    "DL3021": ("COPY of several sources to a destination without /", ""),
    "DL3022": ("COPY --from an unknown stage", ""),
    "DL3023": ("COPY --from its own stage", ""),
    "DL3024": ("duplicate stage name", ""),
    "DL3025": ("CMD/ENTRYPOINT in shell form", ""),
    "DL3026": ("FROM an untrusted registry", ""),
    "DL3027": ("apt instead of apt-get", ""),
    "DL3028": ("gem install without versions", ""),
    "DL3029": ("FROM --platform", ""),
    "DL3030": ("yum install without -y", ""),
    "DL3031": ("yum update", "removed from hadolint"),
    "DL3032": ("yum clean all missing", ""),
    "DL3033": ("yum install without versions", ""),
    "DL3034": ("zypper without a non-interactive switch", ""),
    "DL3035": ("zypper dist-upgrade", ""),
    "DL3036": ("zypper clean missing", ""),
    "DL3037": ("zypper install without versions", ""),
    "DL3038": ("dnf install without -y", ""),
    "DL3040": ("dnf clean all missing", ""),
    "DL3041": ("dnf install without versions", ""),
    "DL3042": ("pip install without --no-cache-dir", ""),
    "DL3043": ("ONBUILD, FROM or MAINTAINER inside ONBUILD", "not implemented yet"),
    "DL3044": ("ENV referring to a variable it sets", ""),
    "DL3045": ("COPY to a relative destination without WORKDIR", ""),
    "DL3046": ("useradd with a high UID without -l", ""),
    "DL3047": ("wget without --progress", ""),
    **{f"DL30{n}": ("label schema", "not implemented yet") for n in (48, 49, 50, 51, 52, 53,
                                                                     54, 55, 56, 58)},
    "DL3057": ("HEALTHCHECK missing", "not implemented yet"),
    "DL3059": ("consecutive RUNs", ""),
    "DL3060": ("yarn cache clean missing", ""),
    "DL3061": ("instruction before FROM", "a parse error in scratchpack (SP000), as BuildKit "
               "refuses such a file: exit code 2"),
    "DL3062": ("go install without a version", ""),
    "DL3063": ("stage named scratch or context", ""),
    "DL3064": ("secret-like name in ARG or ENV", ""),
    "DL3065": ("FROM --platform=$TARGETPLATFORM, redundant", "BuildKit's RedundantTargetPlatform "
               "check, not implemented yet"),
    "DL3066": ("USER by name", ""),
    "DL3067": ("COPY --from of a whole file system", ""),
    "DL4000": ("MAINTAINER", ""),
    "DL4001": ("both wget and curl", ""),
    "DL4003": ("more than one CMD", ""),
    "DL4004": ("more than one ENTRYPOINT", ""),
    "DL4005": ("ln over /bin/sh instead of SHELL", ""),
    "DL4006": ("pipe without pipefail", ""),
}  # fmt: skip


def render_hadolint_index() -> str:
    """Every hadolint code and the scratchpack rules that declare it, or why none does."""
    rows = []
    for code, (what, why) in HADOLINT.items():
        ours = [c for c, r in RULES.items() if code in r.hadolint]
        linked = ", ".join(f"[{c}]({c}.md)" for c in ours) or "-"
        note = "" if ours else why or "no equivalent"
        rows.append(f"| {code} | {what} | {linked} | {note} |")
    return (
        "\n## hadolint's rules\n\nEach hadolint code, the scratchpack rules that report it "
        "(`# hadolint ignore=` and `--explain` take the code), or why none does. Deliberate "
        "differences are on the rule pages.\n\n"
        "| hadolint | rule | scratchpack | note |\n|---|---|---|---|\n" + "\n".join(rows) + "\n"
    )


def render_index() -> str:
    rows = "\n".join(
        f"| [{code}]({code}.md) | {rule.severity} | {rule.category} | {rule.title} | "
        f"{', '.join(rule.hadolint) or '-'} | {rule.buildkit or '-'} |"
        for code, rule in sorted(RULES.items())
    )
    return (
        "# Lint rules\n\nGenerated by `scripts/gen-rule-docs` from the rule registry.\n\n"
        "| code | severity | category | rule | hadolint | BuildKit |\n"
        "|---|---|---|---|---|---|\n" + rows + "\n\n"
        "BuildKit's InvalidBaseImagePlatform check (a FROM image whose platform is not the "
        "build's) is SP356: it needs the base image's index or config from its registry, so it "
        "runs with `scratchpack lint --lookup-bases` only; by default lint judges the "
        "Dockerfile and its build context alone, fetching no image.\n" + render_hadolint_index()
    )
