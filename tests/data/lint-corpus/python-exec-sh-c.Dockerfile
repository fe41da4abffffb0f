# corpus-expect: SP205 SP200 SP101
FROM python:3.12-slim-bookworm AS base
RUN ["/bin/sh", "-c", "pip install flask==3.0.3 && python -c 'import flask'"]
RUN ["sh", "-c", "apt-get update && apt-get install -y curl && rm -rf /var/lib/apt/lists/*"]
USER 1000
WORKDIR /srv
ENTRYPOINT ["python", "-m", "flask", "run"]
