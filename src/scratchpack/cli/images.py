"""Opening the image a report command names: transport, platform, registry flags, and exit 2
(not 1) when it cannot be read, so CI tells "unreadable" from "failed the check"."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from scratchpack.errors import ScratchpackError, UsageError

if TYPE_CHECKING:  # the image model is loaded by the commands that open one, not by `lint`
    from scratchpack.model.image import Image

T = TypeVar("T")


class ImageUnreadable(ScratchpackError):
    exit_code = 2


def with_image(args: argparse.Namespace, text: str, work: Callable[[Image, str], T]) -> T:
    """Open ``text`` (any transport, ``--platform`` and registry flags from ``args``) and
    return ``work(image, name)``."""
    from scratchpack.cli.options import image_name, registry_options
    from scratchpack.model.descriptor import Platform
    from scratchpack.transports.dispatch import open_image
    from scratchpack.transports.names import RegistryName

    name = image_name(text)
    platform = Platform.parse(args.platform) if args.platform else None
    # only a registry image needs the registry client (httpx: a quarter of a local audit's
    # start-up)
    options = registry_options(args) if isinstance(name, RegistryName) else None
    try:
        with open_image(name, platform, options) as image:
            return work(image, str(name))
    except UsageError:
        raise
    except ScratchpackError as exc:
        raise ImageUnreadable(str(exc)) from exc
    finally:
        if options is not None:
            options.close()
