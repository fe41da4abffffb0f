# syntax=docker/dockerfile:1.4
# corpus-expect: SP205 SP101 SP100
FROM python:3.12-slim
COPY <<EOF /app/app.py
from flask import Flask
app = Flask(__name__)

@app.get("/")
def index():
    return "hello"
EOF
COPY <<-EOF /app/requirements.txt
	flask==3.0.3
	gunicorn==22.0.0
	EOF
RUN <<EOF
set -ex
pip install -r /app/requirements.txt
python -c "import flask"
EOF
WORKDIR /app
CMD ["gunicorn", "-b", ":8000", "app:app"]
