"""The ``docker://`` transport: the OCI distribution API (v1.1) over httpx."""
