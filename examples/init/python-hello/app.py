"""python-hello: prints a greeting with its uid and proves the standard library works."""

import json
import os

print(json.dumps({"greeting": "hello from python-hello", "uid": os.getuid()}))
