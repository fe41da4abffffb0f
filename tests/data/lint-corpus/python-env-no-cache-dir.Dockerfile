# corpus-expect: none-above-info
FROM python:3.12-slim@sha256:1d0447543fac833cc86eed3edb0988e1c6ea7dfb011f7448f93bf50a6f1486d0
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /opt/svc
COPY requirements.txt ./
RUN pip install -r requirements.txt
COPY svc/ svc/
USER 65534:65534
CMD ["python", "-m", "svc"]
