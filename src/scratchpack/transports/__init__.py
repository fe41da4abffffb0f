"""Transports read images from and write images to the places they live.

Names follow skopeo: ``oci:DIR[:TAG]``, ``docker-archive:FILE[:NAME[:TAG]]``,
``docker-daemon:NAME[:TAG]``.
"""
