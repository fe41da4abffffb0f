# syntax=docker/dockerfile:1
# corpus-expect: SP101 SP100
FROM python:3.12-slim
RUN <<EOF python3
import json, pathlib
pathlib.Path("/etc/app.json").write_text(json.dumps({"debug": False}))
EOF
RUN <<'SCRIPT'
echo "literal $HOME stays unexpanded"
SCRIPT
CMD ["python3", "-c", "print(open('/etc/app.json').read())"]
