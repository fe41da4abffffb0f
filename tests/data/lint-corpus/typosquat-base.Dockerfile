# corpus-expect: SP108
FROM pyhton:3.12-slim@sha256:8b4cb3bc11e4ab7549ba095ad2ef6594dd6a01b6dba68ffde871eaef921c11ef
WORKDIR /app
COPY . .
USER 1000
CMD ["python", "app.py"]
