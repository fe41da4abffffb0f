"""Which packages to install: the requested ones and what they need, chosen as apt would
for a fresh system, with every choice explicit.

* ``Depends`` and ``Pre-Depends`` are followed (``Recommends`` and ``Suggests`` are not:
  images carry only what is required).
* Alternatives (``a | b``): one already chosen wins; otherwise the first that can be
  satisfied.
* Version constraints (``<<``, ``<=``, ``=``, ``>=``, ``>>``) are checked with Debian's
  version ordering (python-debian); of several candidates the highest version is taken.
* Virtual packages: a name no real package has is satisfied by a package that ``Provides``
  it (a versioned constraint needs a versioned ``Provides``); several providers and none
  chosen yet is resolved by name order, and reported.
* ``Essential: yes`` packages (dpkg, perl-base, bash...) are what a dpkg-managed system may
  assume; an image built without dpkg does not need them as dependencies, so by default
  they are *skipped* when only reached as a dependency (listed as such), and installed when
  asked for by name. ``essential="include"`` follows them like any other package.
* ``exclude`` names packages never to install, whatever needs them (listed as skipped).

Nothing is pulled in silently: the result lists every package with the reason it is there.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from debian.deb822 import PkgRelation
from debian.debian_support import Version

from scratchpack.debian.index import PackageRecord
from scratchpack.errors import UsageError


class ResolveError(UsageError):
    pass


@dataclass(frozen=True)
class Choice:
    record: PackageRecord
    reason: str  # "requested", or "NAME needs ..."


@dataclass
class Resolution:
    chosen: list[Choice] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (name, why)
    notes: list[str] = field(default_factory=list)

    def names(self) -> list[str]:
        return sorted(c.record.name for c in self.chosen)


Constraint = tuple[str, str] | None  # (operator, version)


def relations(text: str) -> list[list[PkgRelation.ParsedRelation]]:
    """Parsed ``Depends``-style field; empty fields are most fields (and python-debian logs a
    warning for each empty one)."""
    return PkgRelation.parse_relations(text) if text.strip() else []


_OPS = {
    "<<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    "=": lambda a, b: a == b,
    ">=": lambda a, b: a >= b,
    ">>": lambda a, b: a > b,
}


def _satisfies(version: str, constraint: tuple[str, str] | None) -> bool:
    if constraint is None:
        return True
    op, wanted = constraint
    return bool(_OPS[op](Version(version), Version(wanted)))


# The names a Provides field lists (a superset: each is checked against python-debian's
# parse of the field before it counts), found without parsing 10,000 fields at start-up.
PROVIDED_NAMES = re.compile(r"(?:^|[,|])\s*([^\s,|(\[<:]+)")


@dataclass
class Universe:
    """All candidates by name, and who provides what, for one architecture.

    Built once per resolution from every package of the indexes (64,000 for bookworm), so
    only what each lookup needs is computed up front: a name's candidates are ranked by
    version the first time it is looked up, and a record's ``Provides`` is parsed only when
    the name it may provide is looked for.
    """

    arch: str
    packages: dict[str, list[PackageRecord]] = field(default_factory=dict)
    providers: dict[str, list[PackageRecord]] = field(default_factory=dict)  # may provide
    ranked: set[str] = field(default_factory=set)  # names whose candidates are sorted

    @classmethod
    def of(cls, records: Iterable[PackageRecord], arch: str) -> Universe:
        universe = cls(arch)
        packages, providers = universe.packages, universe.providers
        for record in records:
            if record.architecture not in (arch, "all"):
                continue
            packages.setdefault(record.name, []).append(record)
            if record.provides:
                for provided in PROVIDED_NAMES.findall(record.provides):
                    providers.setdefault(provided, []).append(record)
        return universe

    def candidates(self, name: str) -> list[PackageRecord]:
        """The packages called ``name``, highest version first."""
        found = self.packages.get(name, [])
        if len(found) > 1 and name not in self.ranked:
            found.sort(key=lambda r: Version(r.version), reverse=True)
            self.ranked.add(name)
        return found

    def best(self, name: str, constraint: tuple[str, str] | None = None) -> PackageRecord | None:
        for record in self.candidates(name):
            if _satisfies(record.version, constraint):
                return record
        return None

    def providing(
        self, name: str, constraint: tuple[str, str] | None = None
    ) -> list[PackageRecord]:
        found = []
        for record in dict.fromkeys(self.providers.get(name, [])):
            for group in relations(record.provides):
                for item in group:
                    if item["name"] != name:
                        continue
                    version = item.get("version")
                    provided = version[1] if version else None
                    if constraint is None or (
                        provided is not None and _satisfies(provided, constraint)
                    ):
                        found.append(record)
        return sorted(found, key=lambda r: (r.name, Version(r.version)))


def _describe(item: PkgRelation.ParsedRelation) -> str:
    version = item.get("version")
    if version:
        return f"{item['name']} ({version[0]} {version[1]})"
    return str(item["name"])


def resolve(
    universe: Universe,
    requested: list[str],
    exclude: Iterable[str] = (),
    essential: str = "skip",
) -> Resolution:
    if essential not in ("skip", "include"):
        raise UsageError(f"essential must be 'skip' or 'include', not {essential!r}")
    return _Resolver(universe, set(exclude), essential).run(requested)


@dataclass
class _Resolver:
    universe: Universe
    excluded: set[str]
    essential: str
    result: Resolution = field(default_factory=Resolution)
    chosen: dict[str, PackageRecord] = field(default_factory=dict)
    provided: dict[str, list[PackageRecord]] = field(default_factory=dict)
    queue: list[PackageRecord] = field(default_factory=list)

    def choose(self, record: PackageRecord, reason: str) -> None:
        self.chosen[record.name] = record
        self.result.chosen.append(Choice(record, reason))
        for group in relations(record.provides):
            for item in group:
                self.provided.setdefault(str(item["name"]), []).append(record)
        self.queue.append(record)

    def run(self, requested: list[str]) -> Resolution:
        for name in requested:
            if name in self.chosen:
                continue
            record = self.universe.best(name)
            if record is None:
                providers = self.universe.providing(name)
                hint = (
                    f" (a virtual package provided by {', '.join(p.name for p in providers)})"
                    if providers
                    else ""
                )
                raise ResolveError(f"unknown package {name!r} for {self.universe.arch}{hint}")
            self.choose(record, "requested")
        while self.queue:
            record = self.queue.pop(0)
            for group in relations(record.pre_depends) + relations(record.depends):
                self.satisfy(record, group)
        self.result.chosen.sort(key=lambda c: c.record.name)
        self.result.skipped = sorted(set(self.result.skipped))
        return self.result

    def _items(self, group: list[PkgRelation.ParsedRelation]) -> list[tuple[str, Constraint]]:
        """(name, constraint) of the alternatives that apply to this architecture."""
        items = []
        for item in group:
            arches = item.get("arch")
            if arches and not any(on == (a == self.universe.arch) for on, a in arches):
                continue
            version = item.get("version")
            items.append((str(item["name"]), (version[0], version[1]) if version else None))
        return items

    def satisfy(self, parent: PackageRecord, group: list[PkgRelation.ParsedRelation]) -> None:
        items = self._items(group)
        if not items:
            return  # for other architectures only
        wanted = " | ".join(_describe(i) for i in group)
        for name, constraint in items:  # already satisfied by what is chosen?
            if name in self.chosen and _satisfies(self.chosen[name].version, constraint):
                return
            if constraint is None and self.provided.get(name):
                return
        for name, _ in items:  # excluded or Essential: skipped, and said so
            if name in self.excluded:
                self.result.skipped.append((name, f"excluded ({parent.name} needs {wanted})"))
                return
            record = self.universe.best(name)
            if record is not None and record.essential and self.essential == "skip":
                self.result.skipped.append((name, f"Essential ({parent.name} needs {wanted})"))
                return
        conflicts = []
        for name, constraint in items:
            if name in self.chosen:  # chosen at another version: one version per package
                conflicts.append(f"{name} {self.chosen[name].version} is already chosen")
                continue
            record = self.universe.best(name, constraint)
            if record is not None:
                self.choose(record, f"{parent.name} needs {wanted}")
                return
            providers = self.universe.providing(name, constraint)
            if providers:
                if len(providers) > 1:
                    self.result.notes.append(
                        f"{name} is provided by {', '.join(p.name for p in providers)}; took "
                        f"{providers[0].name} (name order): request another to override"
                    )
                self.choose(
                    providers[0], f"{parent.name} needs {wanted} (provided by {providers[0].name})"
                )
                return
        why = f" ({'; '.join(conflicts)})" if conflicts else ""
        raise ResolveError(
            f"{parent.name} {parent.version} needs {wanted}, which no package satisfies for "
            f"{self.universe.arch}{why}"
        )
