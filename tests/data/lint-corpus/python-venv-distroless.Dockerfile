# syntax=docker/dockerfile:1
# corpus-expect: none-above-info
FROM python:3.11-slim-bookworm@sha256:c2c9fdd0d5193db0e65a49fb60291a15fa9d8dfbad4d3d6287eed7bdbaa3f9db AS build
RUN python -m venv /venv
ENV PATH=/venv/bin:$PATH
COPY requirements.txt /tmp/requirements.txt
RUN --mount=type=cache,target=/root/.cache/pip pip install -r /tmp/requirements.txt
COPY app/ /venv/app/

FROM gcr.io/distroless/python3-debian12:nonroot@sha256:4f231848fe2c08716fedd723e754a6ad5084555dce30cf26e55b4434a78bb3a9
COPY --from=build /venv /venv
ENV PYTHONPATH=/venv/lib/python3.11/site-packages
WORKDIR /venv/app
ENTRYPOINT ["python3", "/venv/app/main.py"]
