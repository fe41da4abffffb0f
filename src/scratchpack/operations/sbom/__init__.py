"""``sbom``: the packages an image holds (``packages``: the readers; ``collect``: from a scan;
``formats``: CycloneDX and SPDX documents)."""
