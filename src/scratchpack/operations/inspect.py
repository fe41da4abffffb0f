"""``inspect``: what an image is made of, without unpacking it."""

from __future__ import annotations

from typing import Any

from scratchpack.model import mediatypes as mt
from scratchpack.model.image import Image


def inspect_image(image: Image, name: str) -> dict[str, Any]:
    config = image.config
    history = [
        {
            "created": h.created,
            "created_by": h.created_by,
            "comment": h.comment,
            "empty_layer": h.empty_layer,
        }
        for h in config.history
    ]
    return {
        "name": name,
        "manifest_digest": str(image.manifest_digest),
        # the single-platform manifest's: differs when the name points at an index
        "platform_manifest_digest": str(
            image.digest if image.index_digest else image.manifest_digest
        ),
        "image_id": str(image.image_id),
        # the names before manifest_digest and image_id, kept for scripts that read them
        "digest": str(image.manifest_digest),
        "config_digest": str(image.config_digest),
        "media_type": image.manifest.media_type,
        "platform": str(config.platform),
        "created": config.created,
        "user": config.user,
        "entrypoint": config.entrypoint,
        "cmd": config.cmd,
        "env": config.env,
        "workdir": config.workdir,
        "labels": config.labels,
        "exposed_ports": config.exposed_ports,
        "annotations": image.manifest.annotations,
        "layers": [
            {
                "digest": str(layer.descriptor.digest),
                "diff_id": str(layer.diff_id),
                "media_type": layer.descriptor.media_type,
                "compression": mt.layer_compression(layer.descriptor.media_type),
                "size": layer.descriptor.size,
            }
            for layer in image.layers
        ],
        "history": history,
        "size": image.total_size(),
    }
