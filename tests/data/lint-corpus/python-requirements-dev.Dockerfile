# corpus-expect: SP210
FROM python:3.12-alpine@sha256:5924371973d2eef832fdf1db4c751f7dff6f2a072c676905365abe427d50ddb0
WORKDIR /app
COPY requirements.txt requirements-dev.txt ./
RUN pip install --no-cache-dir -r requirements.txt -r requirements-dev.txt
COPY . .
USER nobody
CMD ["pytest", "-q"]
