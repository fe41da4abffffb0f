"""The commands inside a RUN, found with a real shell grammar (tree-sitter-bash).

Rules see ``apt-get install`` whether it stands alone, in a ``&&`` chain, after ``;``, in a
heredoc body or inside ``sh -c '...'``. A script the grammar cannot read still yields what it
could read; nothing here raises on odd shell, with one exception: tree-sitter-bash's error
recovery can take time quadratic in the script (``a|a|a|...`` of 40 kB: 40 s; ``a)a)a)...``),
so parsing stops at a deadline, or before it starts for thousands of ``|``, and
:class:`ScriptTooComplex` says so (docs/fuzzing.md).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from typing import TYPE_CHECKING, NamedTuple

from scratchpack.errors import FormatError
from scratchpack.lazyre import lazy

_SHELLS = frozenset({"sh", "bash", "dash", "ash", "/bin/sh", "/bin/bash", "/bin/dash"})
_WRAPPERS = frozenset({"sudo", "env", "nice", "nohup", "time", "exec", "command"})

# Seconds of tree-sitter time for one script, or for all scripts parsed inside time_budget().
PARSE_SECONDS = 2.0
MAX_PIPES = 500
CALLBACK_ABOVE = 4096  # bytes; see _tree
_NON_ASCII = lazy(rb"[\x80-\xff]")
_budget: ContextVar[list[float] | None] = ContextVar("shell_parse_budget", default=None)


class ScriptTooComplex(FormatError):
    """A script tree-sitter could not read in time; ``line`` is set by whoever knows where the
    script is (the Dockerfile rules)."""

    exit_code = 2
    line = 0


@contextmanager
def time_budget(seconds: float = PARSE_SECONDS) -> Iterator[None]:
    """One budget of parsing time for every script parsed inside: linting a file costs at most
    this much tree-sitter time, however many RUN instructions it has. Only time spent parsing
    counts, so a big file of ordinary scripts (0.1 ms each) stays far below it."""
    token = _budget.set([seconds])
    try:
        yield
    finally:
        _budget.reset(token)


class ShellCommand(NamedTuple):
    name: str
    args: tuple[str, ...]
    pipe_to: str | None = None  # the next command when this one's output is piped
    env: tuple[tuple[str, str], ...] = ()  # inline assignments: CGO_ENABLED=0 go build
    # Where the command's name is, so a finding can point at it: the byte offset into the
    # script given to commands() (-1: not known), and which script of the RUN that was (-1:
    # its shell-form text, n: its n-th heredoc, -2 - n: the n-th element of its exec form), set
    # by whoever parses the parts of a RUN.
    # Not compared: the same command is the same command wherever it is.
    offset: int = -1
    part: int = -1

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ShellCommand) and self[:4] == other[:4]

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash(self[:4])

    def env_value(self, name: str) -> str | None:
        for key, value in self.env:
            if key == name:
                return value
        return None

    def has(self, *options: str) -> bool:
        return any(arg == o or arg.startswith(o + "=") for arg in self.args for o in options)

    @property
    def words(self) -> tuple[str, ...]:
        return (self.name, *self.args)


if TYPE_CHECKING:
    import tree_sitter


@cache
def _parser() -> tree_sitter.Parser:
    """The Bash parser, made at the first script (a file with no RUN loads no tree-sitter)."""
    import tree_sitter

    return tree_sitter.Parser(tree_sitter.Language(_bash_grammar()))


def _bash_grammar() -> object:
    """tree-sitter-bash's compiled grammar (a capsule), from its extension module alone.

    Why not ``import tree_sitter_bash``: its ``__init__`` imports ``importlib.resources`` (and
    with it ``tempfile``, ``zipfile``...) for its highlighting queries, which lint never reads:
    5-12 ms of a one-file lint. The package is located without being run and its ``_binding``
    extension loaded by the standard loader; anything unexpected (another layout, a zipped
    install) falls back to the package's own import."""
    import importlib.machinery
    import importlib.util
    from pathlib import Path

    try:
        package = importlib.util.find_spec("tree_sitter_bash")
        folders = package.submodule_search_locations if package else None
        for folder in folders or ():
            for suffix in importlib.machinery.EXTENSION_SUFFIXES:
                path = f"{folder}/_binding{suffix}"
                loader = importlib.machinery.ExtensionFileLoader("tree_sitter_bash._binding", path)
                spec = importlib.util.spec_from_file_location(
                    "tree_sitter_bash._binding", path, loader=loader
                )
                if spec is None or not Path(path).is_file():
                    continue
                binding = importlib.util.module_from_spec(spec)
                loader.exec_module(binding)
                grammar: object = binding.language()
                return grammar
    except (ImportError, OSError, AttributeError):
        pass
    import tree_sitter_bash

    fallback: object = tree_sitter_bash.language()
    return fallback


def _tree(script: bytes) -> tree_sitter.Tree:
    # The deadline does not cut pipelines short (tree-sitter checks it too rarely there), so
    # they are bounded by count: 500 "|" parse in about 0.03 s.
    if script.count(b"|") > MAX_PIPES:
        raise ScriptTooComplex(f"shell script with more than {MAX_PIPES} '|': not read")
    # tree-sitter-bash 0.25.1 crashes (SIGSEGV, about one run in three) on some non-ASCII
    # after "{" ("{\U000692a1", found by tests/test_fuzz.py). The grammar reads any non-ASCII
    # character as part of a word, as "x" is, so each such byte becomes "x": the same words at
    # the same offsets, and the words' text is taken from the script, not from the tree.
    if not script.isascii():
        script = _NON_ASCII.sub(b"x", script)
    budget = _budget.get() or [PARSE_SECONDS]
    if budget[0] <= 0:
        raise ScriptTooComplex(f"shell scripts too complex to read in {PARSE_SECONDS:g} s")
    started = time.monotonic()
    deadline = started + budget[0]
    parser = _parser()
    try:
        if len(script) <= CALLBACK_ABOVE:  # at worst 0.4 s, and counted in the budget
            return parser.parse(script)
        # Only a parse through a read callback can be cancelled (by the progress callback),
        # but py-tree-sitter 0.26.1 leaks every chunk that callback returns, so only long
        # scripts, whose worst case is minutes, are parsed this way.
        return parser.parse(
            lambda offset, _point: script[offset : offset + 4096],
            progress_callback=lambda _offset, _error: time.monotonic() > deadline,
        )
    except ValueError:  # cancelled
        parser.reset()  # or the next parse would resume this one
        raise ScriptTooComplex(
            f"shell script too complex to read in {PARSE_SECONDS:g} s ({len(script)} bytes)"
        ) from None
    finally:
        budget[0] -= time.monotonic() - started


def _word(node: tree_sitter.Node, source: bytes) -> str:
    text = source[node.start_byte : node.end_byte].decode(errors="replace")
    if node.type == "raw_string" and len(text) >= 2:
        return text[1:-1]
    if node.type == "string" and len(text) >= 2:
        return text[1:-1]
    return text


def _piped(node: tree_sitter.Node) -> tree_sitter.Node | None:
    """The command a pipeline's part runs, or None for a part that is no simple command. The
    ``!`` of ``! cat x | grep y`` negates the whole pipeline, but tree-sitter-bash hangs it on
    the first command (``(pipeline (negated_command (command cat)) (command grep))``): that
    command is still the one piped into grep."""
    if node.type == "negated_command":
        inner = [c for c in node.children if c.type == "command"]
        return inner[0] if len(inner) == 1 else None
    return node if node.type == "command" else None


def commands(
    script: str, depth: int = 0, base: int = 0, at: int | None = None
) -> list[ShellCommand]:
    """Every simple command in ``script``, in order, including those of ``sh -c`` strings.

    Each command's ``offset`` is where its name starts in ``script``, plus ``base``; with
    ``at``, every command gets that offset instead (an ``sh -c`` string with escapes or
    expansions, whose words are not where its text puts them: the string is pointed at).
    """
    source = script.encode()
    tree = _tree(source)
    found: list[ShellCommand] = []

    def visit(root: tree_sitter.Node) -> None:
        # An explicit stack, not recursion: a RUN of 1,000 nested "(" is a tree 1,000 deep.
        stack = [root]
        while stack:
            node = stack.pop()
            if node.type == "pipeline":
                piped = [(c, _piped(c)) for c in node.children]
                parts = [part for _, part in piped if part is not None]
                for n, part in enumerate(parts):
                    nxt = parts[n + 1] if n + 1 < len(parts) else None
                    add(part, _command_name(nxt, source) if nxt is not None else None)
                stack.extend(reversed([c for c, part in piped if part is None]))
            elif node.type == "command":
                add(node, None)
            else:
                if node.type == "declaration_command" and node.children[0].type == "export":
                    # ``export NAME=value``: what the commands after it see (PIP_NO_CACHE_DIR...)
                    words = (_word(c, source) for c in node.children[1:])
                    found.append(ShellCommand("export", tuple(words), offset=where(node)))
                stack.extend(reversed(node.children))

    def where(node: tree_sitter.Node) -> int:
        return at if at is not None else base + node.start_byte

    def add(node: tree_sitter.Node, pipe_to: str | None) -> None:
        name = _command_name(node, source)
        if not name:
            return
        name_node = next(c for c in node.children if c.type == "command_name")
        nodes = [
            c for c in node.children
            if c.type not in ("command_name", "variable_assignment")
            and not c.type.startswith("file_redirect") and c.type != "herestring_redirect"
        ]  # fmt: skip
        args = tuple(_word(c, source) for c in nodes)
        env = tuple(
            (key, value.strip("\"'"))
            for key, _, value in (
                _word(c, source).partition("=")
                for c in node.children
                if c.type == "variable_assignment"
            )
        )
        while name in _WRAPPERS and args:
            if name == "sudo":
                found.append(ShellCommand("sudo", args, pipe_to, env, where(name_node)))
            if name == "env":
                env += tuple(
                    (k, v) for k, _, v in (a.partition("=") for a in args if "=" in a) if k
                )
            rest = [a for a in args if not a.startswith("-") and "=" not in a]
            if not rest:
                break
            index = args.index(rest[0])
            name, args, name_node, nodes = (
                rest[0],
                args[index + 1 :],
                nodes[index],
                nodes[index + 1 :],
            )
        found.append(ShellCommand(name, args, pipe_to, env, where(name_node)))
        if name in _SHELLS and "-c" in args and depth < 3:
            index = args.index("-c")
            if index + 1 < len(args):
                found.extend(commands(args[index + 1], depth + 1, *nested(nodes[index + 1])))

    def nested(node: tree_sitter.Node) -> tuple[int, int | None]:
        """``base`` and ``at`` for the commands of an ``sh -c`` string: exact when its text
        is the script as written (a literal), else every command at the string itself."""
        raw = source[node.start_byte : node.end_byte]
        literal = (
            node.type == "raw_string"
            or (node.type == "word" and not set(raw) & set(b"$`\\'\""))
            or (node.type == "string" and not set(raw[1:-1]) & set(b"$`\\"))
        )
        if at is not None or not literal:
            return 0, where(node)
        return where(node) + (0 if node.type == "word" else 1), None

    visit(tree.root_node)
    return found


def _command_name(node: tree_sitter.Node | None, source: bytes) -> str:
    if node is None:
        return ""
    for child in node.children:
        if child.type == "command_name":
            return _word(child, source)
    return ""


class Word(NamedTuple):
    text: str
    start: int  # byte offsets into the script given to spanned_commands
    end: int


class SpannedCommand(NamedTuple):
    """A simple command with where each word is, for rewrites that insert an option."""

    name: Word
    args: tuple[Word, ...]
    start: int
    end: int

    def has(self, *options: str) -> bool:
        return any(a.text == o or a.text.startswith(o + "=") for a in self.args for o in options)

    def first_operand(self) -> Word | None:
        return next((a for a in self.args if not a.text.startswith("-")), None)


def spanned_commands(script: bytes, base: int = 0, depth: int = 0) -> list[SpannedCommand]:
    """Every simple command in ``script`` with byte offsets (plus ``base``), looking into
    ``sh -c '...'`` when the string is literal, so an edit lands exactly on the word."""
    tree = _tree(script)
    found: list[SpannedCommand] = []

    def visit(root: tree_sitter.Node) -> None:
        stack = [root]  # iterative, as in commands()
        while stack:
            node = stack.pop()
            if node.type == "command":
                add(node)
            stack.extend(reversed(node.children))

    def add(node: tree_sitter.Node) -> None:
        name_node = next((c for c in node.children if c.type == "command_name"), None)
        if name_node is None:
            return
        words = [
            Word(_word(c, script), base + c.start_byte, base + c.end_byte)
            for c in node.children
            if c.type not in ("variable_assignment", "herestring_redirect")
            and not c.type.startswith("file_redirect")
        ]
        while words and words[0].text in _WRAPPERS and len(words) > 1:
            rest = [w for w in words[1:] if not w.text.startswith("-") and "=" not in w.text]
            if not rest:
                break
            words = words[words.index(rest[0]) :]
        if not words:
            return
        command = SpannedCommand(
            words[0], tuple(words[1:]), base + node.start_byte, base + node.end_byte
        )
        found.append(command)
        if command.name.text in _SHELLS and depth < 3:
            texts = [a.text for a in command.args]
            if "-c" in texts and texts.index("-c") + 1 < len(texts):
                script_word = command.args[texts.index("-c") + 1]
                raw = script[script_word.start - base : script_word.end - base]
                literal = raw[:1] == b"'" or (raw[:1] == b'"' and not set(raw) & set(b"$`\\"))
                if literal and len(raw) >= 2:
                    found.extend(spanned_commands(raw[1:-1], script_word.start + 1, depth + 1))

    visit(tree.root_node)
    return found


# -- byte ranges of whole statements, for fixes that append to a script or rewrite one --------

# Shell builtins and reserved words (POSIX, dash, bash): a command named one of these is not a
# program, so ``CMD exec /app`` has no exec-form equivalent.
SHELL_BUILTINS = frozenset(
    {
        ".", ":", "[", "[[", "]]", "{", "}", "!", "alias", "bg", "bind", "break", "builtin",
        "caller", "case", "cd", "command", "compgen", "complete", "compopt", "continue",
        "coproc", "declare", "dirs", "disown", "do", "done", "echo", "elif", "else", "enable",
        "esac", "eval", "exec", "exit", "export", "false", "fc", "fg", "fi", "for", "function",
        "getopts", "hash", "help", "history", "if", "in", "jobs", "kill", "let", "local",
        "logout", "mapfile", "popd", "printf", "pushd", "pwd", "read", "readarray", "readonly",
        "return", "select", "set", "shift", "shopt", "source", "suspend", "test", "then",
        "time", "times", "trap", "true", "type", "typeset", "ulimit", "umask", "unalias",
        "unset", "until", "wait", "while",
    }
)  # fmt: skip
# An unquoted word made of these characters means itself to the shell: no expansion, no glob.
_PLAIN_WORD = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_@%+=:,./-")


class Statement(NamedTuple):
    """A top-level statement of a script (between ``;``, ``&`` or newlines), with offsets
    into the script: the end is the last byte of its last word, before any trailing ``;``,
    ``&`` or comment."""

    start: int
    end: int
    kind: str  # tree-sitter node type: command, list, pipeline, if_statement...
    operators: frozenset[str]  # the list operators at its top level: "&&", "||"
    background: bool  # ended by ``&``
    heredoc: bool  # has a here-document, whose body follows the line


def statements(script: bytes) -> list[Statement] | None:
    """The script's top-level statements in order, or None when the grammar cannot read it
    (a fix must not edit what it cannot read)."""
    root = _parser().parse(script).root_node
    if root.has_error:
        return None
    found: list[Statement] = []
    children = [c for c in root.children if c.type != "comment"]
    for n, node in enumerate(children):
        if node.type in (";", "&", "\n"):
            continue
        nxt = children[n + 1] if n + 1 < len(children) else None
        found.append(
            Statement(
                node.start_byte,
                node.end_byte,
                node.type,
                frozenset(_list_operators(node)),
                nxt is not None and nxt.type == "&",
                _has_heredoc(node),
            )
        )
    return found


def _list_operators(node: tree_sitter.Node) -> list[str]:
    if node.type != "list":
        return []
    found: list[str] = []
    for child in node.children:
        found += _list_operators(child) if child.type == "list" else []
        if child.type in ("&&", "||"):
            found.append(child.type)
    return found


def _has_heredoc(node: tree_sitter.Node) -> bool:
    return node.type == "heredoc_redirect" or any(_has_heredoc(c) for c in node.children)


def rebinds(script: bytes, name: str) -> str:
    """What in the script makes a ``name`` command appended to it run something else, or
    nothing ('' when nothing does): PATH set for the rest of the script (``PATH=/opt/bin``,
    ``export PATH=...``, ``for PATH in``: not ``PATH=... cmd``, which is for that command
    alone), or a function of that name. Read from the tree, so a quoted word is not one."""
    stack = [_tree(script).root_node]
    while stack:
        node = stack.pop()
        text = script[node.start_byte : node.end_byte]
        parent = node.parent
        if node.type == "variable_name" and text == b"PATH" and parent is not None:
            prefix = parent.type == "variable_assignment" and (
                parent.parent is not None and parent.parent.type == "command"
            )
            if not prefix:
                return "it sets PATH"
        elif node.type == "function_definition":
            word = next((c for c in node.children if c.type == "word"), None)
            if word is not None and script[word.start_byte : word.end_byte] == name.encode():
                return f"it defines a function {name}"
        stack.extend(node.children)
    return ""


def comments_continued(script: bytes) -> bool:
    """Whether a comment of the script ends in a backslash continuation (``# note\\``): bash
    ends the comment at the newline, but BuildKit removes the continuation before the shell
    sees the script, so the next line becomes part of the comment and never runs. A script
    read the first way would be edited where the shell will not look."""
    if b"#" not in script:
        return False
    stack = [_tree(script).root_node]
    while stack:
        node = stack.pop()
        if node.type == "comment" and script[node.start_byte : node.end_byte].endswith(b"\\"):
            return True
        stack.extend(node.children)
    return False


def literal_argv(script: bytes) -> tuple[str, ...] | None:
    """The argv ``sh -c script`` would exec, when the script is one simple command of plain
    or quoted words with nothing for the shell to do (no builtin, assignment, expansion, glob,
    redirection, operator or comment); None otherwise."""
    root = _parser().parse(script).root_node
    if root.has_error or [c.type for c in root.children] != ["command"]:
        return None
    argv: list[str] = []
    for child in root.children[0].children:
        node = child.children[0] if child.type == "command_name" and child.children else child
        raw = node.text or b""
        if node.type in ("word", "number") and raw and set(raw) <= _PLAIN_WORD:
            argv.append(raw.decode())
        elif (node.type == "raw_string" and len(raw) >= 2) or (
            node.type == "string"
            and all(c.type in ('"', "string_content") for c in node.children)
            and b"\\" not in raw
        ):
            argv.append(raw[1:-1].decode(errors="replace"))
        else:
            return None
    if not argv or argv[0] in SHELL_BUILTINS:
        return None
    return tuple(argv)
