"""The service. ``/color`` loads its converter module by a name from a table, as plugin
systems do: an import no syntax tree shows, which only a traced run (or --keep-module) sees."""

from __future__ import annotations

import importlib
import os
from typing import Any

import requests
from flask import Flask, jsonify, request

CONVERTERS = {"hls": ("colorsys", "rgb_to_hls"), "hsv": ("colorsys", "rgb_to_hsv")}


def create_app() -> Flask:
    app = Flask(__name__)

    @app.get("/hello")
    def hello() -> Any:
        return jsonify(message="hello", requests=requests.__version__)

    @app.get("/color")
    def color() -> Any:
        module_name, function = CONVERTERS[request.args.get("to", "hls")]
        module = importlib.import_module(module_name)
        red, green, blue = (int(request.args.get(c, "0")) / 255 for c in "rgb")
        values = getattr(module, function)(red, green, blue)
        return jsonify([round(v, 3) for v in values])

    return app


def main() -> None:
    create_app().run(host="0.0.0.0", port=int(os.environ.get("PORT", "8080")))
