"""Debian packages to image layers, without dpkg or a daemon."""
