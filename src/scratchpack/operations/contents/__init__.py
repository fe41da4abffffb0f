"""What an image contains: one streamed pass over its layers (``scan``) into a metadata-only
file system (``filesystem``), shared by ``audit``, ``sbom`` and ``compare``."""
