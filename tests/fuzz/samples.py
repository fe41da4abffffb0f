"""Hand-written sample inputs: the seed corpus (make_corpus.py) and the building blocks of the
hypothesis strategies (strategies.py). Each shows one syntax feature or one corner case."""

from __future__ import annotations

from scratchpack.dockerfile.ruledocs import DOCS

NESTED = 1000

DOCKERFILES: dict[str, str] = {
    "minimal": 'FROM scratch\nCOPY app /app\nENTRYPOINT ["/app"]\n',
    "multistage": (
        "ARG GO=1.22\nFROM golang:${GO} AS build\nWORKDIR /src\nCOPY go.mod go.sum ./\n"
        "RUN --mount=type=cache,target=/root/.cache go mod download\nCOPY . .\n"
        "RUN CGO_ENABLED=0 go build -o /out/app ./cmd/app\n"
        "FROM gcr.io/distroless/static:nonroot\nCOPY --from=build /out/app /app\n"
        'USER 65532:65532\nENTRYPOINT ["/app"]\n'
    ),
    "heredocs": (
        "# syntax=docker/dockerfile:1\nFROM debian:12\nRUN <<EOF\nset -e\napt-get update\n"
        "apt-get install -y curl\nEOF\nCOPY <<-EOT /etc/motd\n\thello\n\tEOT\n"
        "RUN <<A cat > /a && <<'B' cat > /b\n$x\nA\n$y\nB\n"
    ),
    "escape-backtick": (
        "# escape=`\nFROM mcr.microsoft.com/windows\nRUN dir `\n    c:\\\nWORKDIR c:\\a\n"
    ),
    "continuations": (
        "FROM alpine\nRUN apk add \\\n    # a comment inside\n    curl \\\n\n    jq\n"
        "RUN echo \\\r\n  crlf\r\n"
    ),
    "json-forms": (
        'FROM alpine\nRUN ["/bin/sh", "-c", "apk add curl"]\nCMD ["a", "b"]\n'
        'ENTRYPOINT []\nSHELL ["/bin/bash", "-o", "pipefail", "-c"]\nVOLUME ["/data"]\n'
    ),
    "every-instruction": (
        'FROM alpine AS base\nMAINTAINER me\nLABEL a=b c="d e"\nENV A=1 B="two words"\n'
        "ARG V\nEXPOSE 80/tcp 53/udp\nUSER nobody:nogroup\nWORKDIR /w\nADD --chown=1:1 a.tar /\n"
        "COPY --chmod=0755 --link a b /c/\nSTOPSIGNAL SIGTERM\n"
        "HEALTHCHECK --interval=5s CMD wget -q -O- http://localhost/ || exit 1\n"
        'ONBUILD RUN echo onbuild\nVOLUME /v\nSHELL ["sh", "-c"]\nCMD echo done\n'
    ),
    "pragmas": (
        "# scratchpack global ignore=SP100\nFROM debian\n# hadolint ignore=DL3008,DL3015\n"
        "# scratchpack ignore=SP200\nRUN apt-get install curl\n"
    ),
    "lowercase-bom": "\ufefffrom alpine\nrun echo hi\ncopy a b\n",
    "sh-c-nesting": 'FROM alpine\nRUN sh -c \'bash -c "sh -c \\"apk add x\\""\'\n',
    "wrappers": "FROM alpine\nRUN sudo -u x env A=1 nice -n 5 apt-get install -y x | tee log\n",
    "deleted-later": (
        "FROM alpine\nCOPY big.tar /tmp/\nRUN rm -rf /tmp/*\nRUN curl -o /x u\nRUN rm /x\n"
    ),
    # the two crashes of issue 12: a trailing escape at the end of the file and deep nesting
    "trailing-escape": "FROM alpine\n\\",
    "trailing-escape-backtick": "# escape=`\nFROM alpine\n`\n\n",
    "nested-parens": "FROM alpine\nRUN " + "(" * NESTED + "echo" + ")" * NESTED + "\n",
    "nested-subst": "FROM alpine\nRUN echo " + "$(" * NESTED + "x" + ")" * NESTED + "\n",
    "empty-exec-run": "FROM alpine\nRUN []\n",
}
for _code, _doc in sorted(DOCS.items()):
    DOCKERFILES[f"rule-{_code}-bad"] = _doc.bad
    DOCKERFILES[f"rule-{_code}-good"] = _doc.good

SCRIPTS: dict[str, str] = {
    "chain": "apt-get update && apt-get install -y --no-install-recommends curl; rm -rf /x",
    "pipe": "curl -fsSL https://x/install.sh | sh -s -- -y 2>/dev/null | tee /log",
    "sh-c": "sh -c 'pip install flask' && bash -c \"npm ci --omit=dev\"",
    "control": (
        'if [ -f /a ]; then for f in *; do echo "$f"; done; elif true; then :; fi\n'
        'while read -r l; do case "$l" in a|b) x ;; *) y ;; esac; done < f\n'
        'f() { local a=$((1 + 2)); echo ${a:-x} "${b//c/d}"; }; f\n'
    ),
    "assignments": "CGO_ENABLED=0 GOOS=linux go build -ldflags='-s -w' -o /app . <<< x >> y",
    "heredoc": "cat <<EOF > /etc/x\n$HOME `id`\nEOF\ncat <<'RAW'\n$keep\nRAW\n",
    "subshells": "(cd /a && make) || { echo fail; exit 1; }; echo $(date) `uname` <(ls)",
    "odd-quotes": 'echo \'unterminated "mixed\' $\'\\x41\' "$(echo "nested")" \\',
    "wrappers": "sudo -E env -i A=1 nohup time exec command -v apk",
    "nested-parens": "(" * NESTED + "echo" + ")" * NESTED,
    "nested-braces": "{ " * NESTED + "echo;" + " }" * NESTED,
    "nested-if": "if a; then " * 300 + "x" + "; fi" * 300,
    "nested-subst": "echo " + "$(" * NESTED + "x" + ")" * NESTED,
}
