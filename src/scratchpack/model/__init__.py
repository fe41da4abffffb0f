"""The image model: digests, descriptors, manifests, configs and images.

Nothing here knows where images live; transports read and write these objects.
"""
