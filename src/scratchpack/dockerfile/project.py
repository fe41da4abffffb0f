"""What kind of project a directory holds, for ``scratchpack init``: language, binary name,
toolchain version and port, read from the project's own files (never a fixed name)."""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from scratchpack.errors import UsageError
from scratchpack.fsutil import open_regular

# Manifest files per language, in the order they are looked for.
MARKERS: dict[str, tuple[str, ...]] = {
    "rust": ("Cargo.toml",),
    "go": ("go.mod",),
    "c": ("CMakeLists.txt", "Makefile", "makefile", "GNUmakefile"),
    "python": ("pyproject.toml", "requirements.txt", "setup.py"),
    "node": ("package.json",),
}
LANGUAGES = tuple(MARKERS)
NAMES = {"rust": "Rust", "go": "Go", "c": "C/C++", "python": "Python", "node": "Node.js"}
_UNSUPPORTED = {
    "pom.xml": "Java (Maven)", "build.gradle": "Java (Gradle)", "build.gradle.kts": "Kotlin",
    "Gemfile": "Ruby", "composer.json": "PHP", "mix.exs": "Elixir", "Package.swift": "Swift",
}  # fmt: skip
_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_PORT = re.compile(
    r"""(?:listen|Listen|bind|Bind|serve|PORT|port|Addr|addr|htons)\W{0,12}?"""
    r"""(?:[\w.]*?["':=,\s(]{1,4})?(?:0\.0\.0\.0|localhost|127\.0\.0\.1|\[::\])?:?(\d{4,5})\b"""
)
_SOURCES = {
    "go": ("*.go",), "rust": ("*.rs",), "c": ("*.c", "*.cc", "*.cpp"),
    "python": ("*.py",), "node": ("*.js", "*.mjs", "*.ts"),
}  # fmt: skip


@dataclass(frozen=True)
class Project:
    language: str
    name: str  # the binary or app name, from the project's files
    root: Path
    port: int | None = None
    toolchain: str | None = None  # version from the project (go directive, rust-version...)
    details: dict[str, str] = field(default_factory=dict)


def detect(root: Path, language: str | None = None) -> Project:
    if not root.is_dir():
        raise UsageError(f"{root}: not a directory")
    found = [lang for lang, files in MARKERS.items() if any((root / f).is_file() for f in files)]
    if language is None:
        if not found:
            others = [what for f, what in _UNSUPPORTED.items() if (root / f).exists()]
            if others:
                raise UsageError(
                    f"{root} is a {others[0]} project, which init does not support yet "
                    f"(supported: {', '.join(NAMES.values())})"
                )
            raise UsageError(
                f"no project found in {root}: expected one of "
                + ", ".join(f for files in MARKERS.values() for f in files[:2])
                + " (or choose with --lang)"
            )
        if len(found) > 1:
            listed = " and ".join(f"{NAMES[lang]} ({_marker(root, lang)})" for lang in found)
            raise UsageError(f"{root} looks like {listed}: choose one with --lang")
        language = found[0]
    elif language not in MARKERS:
        raise UsageError(f"unsupported language {language!r} (supported: {', '.join(MARKERS)})")
    elif language not in found:
        raise UsageError(f"--lang {language}: {root} has none of {', '.join(MARKERS[language])}")
    reader = {"rust": _rust, "go": _go, "c": _c, "python": _python, "node": _node}[language]
    project = reader(root)
    port = _port(root, language)
    return Project(language, project.name, root, port, project.toolchain, project.details)


def _marker(root: Path, language: str) -> str:
    return next(f for f in MARKERS[language] if (root / f).is_file())


def _clean(name: str, root: Path) -> str:
    cleaned = _NAME.sub("-", name).strip("-.") or _NAME.sub("-", root.resolve().name)
    return cleaned or "app"


def _read_toml(path: Path) -> dict[str, object]:
    try:
        return tomllib.loads(_manifest_text(path))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError) as exc:
        raise UsageError(f"{path}: cannot read: {exc}") from exc


def _table(value: object) -> dict[str, object]:
    return value if isinstance(value, dict) else {}


def _rust(root: Path) -> Project:
    manifest = _read_toml(root / "Cargo.toml")
    package = _table(manifest.get("package"))
    if not package:
        raise UsageError(
            f"{root / 'Cargo.toml'} has no [package] (a workspace?): run init in the crate"
        )
    targets = manifest.get("bin")
    bins = (
        [b for b in targets if isinstance(b, dict) and "name" in b]
        if isinstance(targets, list)
        else []
    )
    name = str(bins[0]["name"]) if bins else str(package.get("name", ""))
    profile = _table(_table(manifest.get("profile")).get("release"))
    tuned = (
        profile.get("lto") not in (None, False, "off")
        and profile.get("codegen-units") == 1
        and profile.get("strip") not in (None, False, "none")
    )
    version = package.get("rust-version")
    details = {"profile_tuned": "yes" if tuned else "no", "package": str(package.get("name"))}
    locked = _lock_packages(root / "Cargo.lock")
    # rustls with webpki-roots carries its own roots; anything that reads the system store
    # (rustls-native-certs, openssl, native-tls) still needs the CA bundle.
    if "webpki-roots" in locked and not locked & _SYSTEM_ROOTS:
        details["webpki_roots"] = "yes"
    dependencies = _table(manifest.get("dependencies"))
    targets_table = _table(manifest.get("target"))
    for table in targets_table.values():
        dependencies = {**dependencies, **_table(_table(table).get("dependencies"))}
    if "tikv-jemallocator" in dependencies and _mentions(root / "src", "*.rs", "global_allocator"):
        details["jemalloc"] = "yes"
    return Project("rust", _clean(name, root), root, toolchain=str(version) if version else None,
                   details=details)  # fmt: skip


# Crates that make a Rust program read the system's CA bundle.
_SYSTEM_ROOTS = frozenset({"rustls-native-certs", "openssl-sys", "native-tls", "openssl-probe"})
# C functions that glibc implements through NSS (nsswitch.conf, loaded modules) or dlopen: a
# static glibc binary that calls them fails at run time, so such a program is linked
# dynamically and shipped with its ELF closure.
_NSS_CALLS = re.compile(
    r"\b(getaddrinfo|gethostbyname2?|getpwnam|getpwuid|getgrnam|getgrgid|getservbyname"
    r"|getnameinfo|dlopen|iconv_open)\s*\("
)


def _lock_packages(lock: Path) -> set[str]:
    """Package names in a Cargo.lock (empty when there is none or it cannot be read: it only
    refines the Dockerfile, and cargo reports a broken lock itself)."""
    try:
        packages = tomllib.loads(_manifest_text(lock)).get("package")
    except (UsageError, UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):
        return set()
    if not isinstance(packages, list):
        return set()
    return {str(p["name"]) for p in packages if isinstance(p, dict) and "name" in p}


def _mentions(directory: Path, pattern: str, needle: str) -> bool:
    return any(needle in _head(path, 1_000_000) for path in sorted(directory.rglob(pattern))[:500])


MAX_MANIFEST = 16 << 20  # a build file or lock of any real project is far below


def _manifest_text(path: Path) -> str:
    """A build file's text (Cargo.toml, go.mod, a Makefile, package.json...), read only if it
    is a regular file and at most MAX_MANIFEST long, else one clear error."""
    try:
        with open_regular(path) as stream:
            data = stream.read(MAX_MANIFEST + 1)
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_MANIFEST:
        raise UsageError(f"{path}: larger than {MAX_MANIFEST >> 20} MiB: not a build file")
    return data.decode(errors="replace")


def _head(path: Path, limit: int) -> str:
    """The first ``limit`` bytes of a source file as text; empty for anything but a regular
    file (a project cloned from someone else can name a FIFO or ``/dev/zero`` ``main.c``: a
    plain read blocked forever or never ended) and for one that cannot be read."""
    try:
        with open_regular(path) as stream:
            return stream.read(limit).decode(errors="replace")
    except OSError:
        return ""


def _go(root: Path) -> Project:
    text = _manifest_text(root / "go.mod")
    module = re.search(r"^\s*module\s+(\S+)", text, re.M)
    version = re.search(r"^\s*go\s+(\d+\.\d+)", text, re.M)
    if module is None:
        raise UsageError(f"{root / 'go.mod'} has no module line")
    target = "."
    if not list(root.glob("*.go")):
        commands = sorted(p.parent for p in root.glob("cmd/*/main.go"))
        if commands:
            target = f"./cmd/{commands[0].name}"
    name = target.rsplit("/", 1)[-1] if target != "." else module.group(1).rsplit("/", 1)[-1]
    return Project(
        "go",
        _clean(name, root),
        root,
        toolchain=version.group(1) if version else None,
        details={"package": target, "has_sum": "yes" if (root / "go.sum").exists() else "no"},
    )


def _c(root: Path) -> Project:
    project = _c_build(root)
    call = _nss_call(root)
    if call:
        project.details["nss"] = call
    library = _own_shared_library(root, project.details["build"])
    if library:
        project.details["shared_library"] = library
        if project.details["build"] == "cmake" or _MAKE_RPATH.search(_makefile_text(root)):
            # CMake gives a build-tree executable a RUNPATH to its own libraries by default
            project.details["rpath"] = "yes"
    return project


# What in a build file makes a shared library (or a dlopen module) of the project's own: a
# `-shared` link or a `lib*.so` target in a Makefile; add_library(... SHARED|MODULE ...) or
# BUILD_SHARED_LIBS switched on in CMake. A static binary cannot use one (there is no loader
# in it to map the library), so such a project is linked dynamically.
_MAKE_SO_TARGET = re.compile(r"^(lib[\w+.-]*?\.so)(?:\.[\d.]+)?\s*:(?!=)", re.M)
_MAKE_SO_LINK = re.compile(r"(?:^|\s)-shared(?:\s|$)")
_MAKE_OUTPUT = re.compile(r"-o\s+(\S*?\.so)\b")
_MAKE_COMMENT = re.compile(r"(?<!\\)#.*$", re.M)
_MAKE_RPATH = re.compile(r"-rpath|\bRUNPATH\b|\bRPATH\b|\$ORIGIN|\$\$ORIGIN")
_CMAKE_SHARED = re.compile(
    r"add_library\s*\(\s*([\w.+-]+)\s+(?:SHARED|MODULE)\b"
    r"|(?:set|option)\s*\(\s*BUILD_SHARED_LIBS\b[^)]*\b(ON|TRUE|YES|1)\s*\)",
    re.I,
)


def _own_shared_library(root: Path, build: str) -> str | None:
    """The shared library the project's own build makes (its name as the build file gives it,
    or the build file when it names none), if any."""
    if build == "cmake":
        text = _manifest_text(root / "CMakeLists.txt")
        match = _CMAKE_SHARED.search(text)
        if match is None:
            return None
        return f"lib{match.group(1)}.so" if match.group(1) else "BUILD_SHARED_LIBS"
    text = _makefile_text(root)
    target = _MAKE_SO_TARGET.search(text)
    if target:
        return target.group(1)
    for line in text.splitlines():
        if _MAKE_SO_LINK.search(line):
            output = _MAKE_OUTPUT.search(line)
            return output.group(1) if output and "$" not in output.group(1) else "a -shared link"
    return None


def _makefile_text(root: Path) -> str:
    """The Makefile without its comments (a comment naming RUNPATH or -shared is not a build)."""
    text = _manifest_text(next(root / f for f in MARKERS["c"][1:] if (root / f).is_file()))
    return _MAKE_COMMENT.sub("", text)


def _nss_call(root: Path) -> str | None:
    """The first NSS/dlopen call in the C/C++ sources, if any."""
    for pattern in _SOURCES["c"]:
        for path in sorted(root.rglob(pattern))[:500]:
            if set(path.relative_to(root).parts) & {"build", ".git", "vendor"}:
                continue
            match = _NSS_CALLS.search(_head(path, 1_000_000))
            if match:
                return match.group(1)
    return None


def _c_build(root: Path) -> Project:
    cmake = root / "CMakeLists.txt"
    if cmake.is_file():
        text = _manifest_text(cmake)
        target = re.search(r"add_executable\s*\(\s*([\w.-]+)", text)
        if target is None:
            raise UsageError(f"{cmake} defines no add_executable target")
        return Project("c", _clean(target.group(1), root), root, details={"build": "cmake"})
    text = _makefile_text(root)
    # The program a Makefile builds: a BIN/TARGET/PROG variable, else the first real target.
    variable = re.search(r"^(?:BIN|TARGET|PROG|PROGRAM|NAME|EXE)\s*[:?]?=\s*(\S+)", text, re.M)
    rules = [
        m.group(1)
        for m in re.finditer(r"^([A-Za-z0-9_][\w.-]*)\s*:(?!=)", text, re.M)
        if m.group(1) not in ("all", "clean", "install", "test", "check") and "." not in m.group(1)
    ]
    name = variable.group(1) if variable else (rules[0] if rules else root.resolve().name)
    return Project("c", _clean(name, root), root, details={"build": "make"})


def _python(root: Path) -> Project:
    details = {"requirements": "yes" if (root / "requirements.txt").is_file() else "no"}
    name = ""
    version = None
    if (root / "pyproject.toml").is_file():
        pyproject = _read_toml(root / "pyproject.toml")
        project = _table(pyproject.get("project"))
        name = str(project.get("name", ""))
        scripts = _table(project.get("scripts"))
        if scripts:
            script, target = next(iter(scripts.items()))
            name = name or script
            details["entry"] = str(target)  # "pkg.module:function"
        # a package to install (pip install .) only when it says how it is built
        details["installable"] = "yes" if "build-system" in pyproject else "no"
        requires = re.search(r"3\.(\d+)", str(project.get("requires-python", "")))
        version = f"3.{requires.group(1)}" if requires else None
    if "entry" not in details:
        main = next(
            (f for f in ("main.py", "app.py", "__main__.py", "server.py") if (root / f).is_file()),
            None,
        )
        if main is None:
            raise UsageError(
                f"{root}: no entry point found (a [project.scripts] entry in pyproject.toml, "
                "or main.py / app.py)"
            )
        details["main"] = main
    if (root / "tests").is_dir() or list(root.glob("test_*.py")) or list(root.glob("*_test.py")):
        details["tests"] = "python3 -m pytest -q -p no:cacheprovider"
    for name_ in ("requirements-test.txt", "requirements-dev.txt", "dev-requirements.txt"):
        if (root / name_).is_file():
            details["test_requirements"] = name_
            break
    return Project("python", _clean(name, root), root, toolchain=version, details=details)


def _node(root: Path) -> Project:
    try:
        package = json.loads(_manifest_text(root / "package.json"))
    except (ValueError, RecursionError) as exc:
        raise UsageError(f"{root / 'package.json'}: cannot read: {exc}") from exc
    if not isinstance(package, dict):
        raise UsageError(f"{root / 'package.json'}: not a JSON object")
    name = str(package.get("name", "")).rsplit("/", 1)[-1]
    main = str(
        package.get("main") or ("server.js" if (root / "server.js").exists() else "index.js")
    )
    engines = _table(package.get("engines"))
    major = re.search(r"(\d+)", str(engines.get("node", "")))
    scripts = _table(package.get("scripts"))
    details = {
        "main": main,
        "lock": "yes" if (root / "package-lock.json").exists() else "no",
        "build": "yes" if "build" in scripts else "no",
    }
    # npm init's placeholder ("echo \"Error: no test specified\" && exit 1") is not a test
    if "test" in scripts and "no test specified" not in str(scripts["test"]):
        details["tests"] = "npm test"
        details["test_script"] = str(scripts["test"])  # what runs where npm is not
    return Project(
        "node", _clean(name, root), root, toolchain=major.group(1) if major else None,
        details=details,
    )  # fmt: skip


def _port(root: Path, language: str) -> int | None:
    """The port the sources listen on, when one literal is plain to see (else no EXPOSE)."""
    budget = 200
    for pattern in _SOURCES[language]:
        for path in sorted(root.rglob(pattern)):
            parts = set(path.relative_to(root).parts)
            if parts & {"target", "node_modules", ".git", ".venv", "vendor", "build"}:
                continue
            budget -= 1
            if budget < 0:
                return None
            text = _head(path, 200_000)
            for match in _PORT.finditer(text):
                port = int(match.group(1))
                if 1024 <= port <= 65535:
                    return port
    return None
