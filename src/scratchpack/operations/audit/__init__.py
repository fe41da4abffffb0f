"""``audit``: open an image and show where its bytes go, what is unsafe, whether it starts.

``scan`` reads every layer once into a :class:`~.filesystem.FileSystem` (metadata only) plus
the few contents the checks need; ``startup`` resolves the command and inspects its binary;
``checks`` turns that evidence into findings. This module assembles the report that the CLI
prints as a table, JSON or SARIF.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from scratchpack.model.image import Image
from scratchpack.operations.audit.checks import (
    AuditFinding,
    Evidence,
    has_ca_bundle,
    package_managers,
    run_checks,
    run_user,
    shells,
)
from scratchpack.operations.audit.startup import analyse, candidate_names, command_line
from scratchpack.operations.contents.filesystem import FileSystem
from scratchpack.operations.contents.scan import fetch_file, scan_image
from scratchpack.operations.sbom.collect import packages_of
from scratchpack.operations.sbom.packages import Package
from scratchpack.reports.severity import Severity


@dataclass(frozen=True)
class AuditResult:
    report: dict[str, Any]
    findings: list[AuditFinding]
    # the final file system (metadata only), for reports that draw every file (the HTML page)
    filesystem: FileSystem | None = field(default=None, repr=False, compare=False)
    # the packages the scan found, for a vulnerability count (compare) without a second scan
    packages: list[Package] = field(default_factory=list, repr=False, compare=False)


def _history_for_layers(image: Image) -> list[str]:
    """The instruction that made each layer: history entries that are not empty layers."""
    made = [h.created_by or "" for h in image.config.history if not h.empty_layer]
    if len(made) != len(image.layers):
        return [""] * len(image.layers)
    return made


def audit_image(image: Image, name: str, top: int = 10, secrets: bool = True) -> AuditResult:
    """The audit report; ``secrets=False`` skips the search of file contents for credentials
    (``--no-secrets``: the config, the history and credential-holding files' names are still
    checked)."""
    config = image.config
    argv = command_line(config.entrypoint, config.cmd)
    with ExitStack() as stack:
        scan = scan_image(image, candidate_names(argv), stack, secrets, name)
        startup = analyse(scan, config.entrypoint, config.cmd, config.env, config.workdir)
        if startup.kind == "unread" and startup.path is not None:
            fetch_file(image, scan, startup.path, stack)
            startup = analyse(scan, config.entrypoint, config.cmd, config.env, config.workdir)
        packages = packages_of(image, scan, stack)
    fs = scan.filesystem
    efficiency = fs.efficiency()
    evidence = Evidence(config, scan, startup, efficiency)
    findings = run_checks(evidence)
    history = _history_for_layers(image)
    uid, user = run_user(evidence)
    layers = [
        {
            "index": n + 1,
            "digest": str(layer.descriptor.digest),
            "compressed_size": layer.descriptor.size,
            "uncompressed_size": scan.uncompressed_sizes[n],
            "content_size": summary.content_size,
            "created_by": history[n],
            "entries": summary.entries,
            "added": summary.added,
            "changed": summary.changed,
            "removed": summary.removed,
            "added_bytes": summary.added_bytes,
            "removed_bytes": summary.removed_bytes,
        }
        for n, (layer, summary) in enumerate(zip(image.layers, fs.layers, strict=True))
    ]
    counts = {str(s): 0 for s in sorted(Severity, reverse=True)}
    for finding in findings:
        counts[str(finding.severity)] += 1
    report: dict[str, Any] = {
        "image": name,
        "digest": str(image.manifest_digest),  # the manifest digest (README, "Digests")
        "image_id": str(image.image_id),
        "platform": str(config.platform),
        "user": {"configured": config.user, "uid": uid, "how": user},
        "size": {
            "compressed": image.total_size(),
            "uncompressed": sum(scan.uncompressed_sizes),
            "files": fs.file_count,
            "file_bytes": fs.total_bytes,
        },
        "layers": layers,
        "efficiency": {
            "score": efficiency.score,
            "wasted_bytes": efficiency.wasted_bytes,
            "size": efficiency.size,
            "user_size": efficiency.user_size,
            "user_wasted_percent": efficiency.user_wasted_ratio * 100,
            "inefficiencies": [
                {"path": "/" + i.path, "count": i.observations, "wasted_bytes": i.wasted_bytes}
                for i in efficiency.inefficiencies[: top * 5]
            ],
        },
        "largest_files": [
            {"path": "/" + path, "size": node.size, "layer": node.layer + 1}
            for path, node in fs.largest_files(top)
        ],
        "largest_dirs": [
            {"path": "/" + path, "size": size, "files": files}
            for path, size, files in fs.largest_dirs(top)
        ],
        "packages": {
            "count": len(packages),
            "by_type": {
                kind: sum(1 for p in packages if p.type == kind)
                for kind in sorted({p.type for p in packages})
            },
        },
        "startup": startup.as_dict(),
        "shells": shells(scan),
        "package_managers": package_managers(scan),
        "ca_bundle": has_ca_bundle(evidence),
        "findings": [f.as_dict() for f in findings],
        "summary": counts,
    }
    return AuditResult(report, findings, fs, packages)
