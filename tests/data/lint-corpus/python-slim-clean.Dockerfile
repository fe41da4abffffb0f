# corpus-expect: none-above-info
FROM python:3.12-slim-bookworm@sha256:4bd2ba22427f734176040c18d59614fffa8c6c6e65daa497d2bf5c04b8bb6e4f
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt \
    && useradd --create-home --uid 10001 app
COPY --chown=app:app src/ ./src/
USER app
EXPOSE 8000
CMD ["python", "-m", "src.server"]
