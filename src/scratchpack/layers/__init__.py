"""Reproducible layer tarballs and their (parallel) compression."""
