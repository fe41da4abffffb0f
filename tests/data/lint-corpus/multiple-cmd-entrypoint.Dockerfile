# corpus-expect: SP305 SP101
FROM python:3.12-slim
USER 1000
WORKDIR /app
ENTRYPOINT ["python"]
ENTRYPOINT ["python3"]
CMD ["-m", "http.server"]
CMD ["-m", "http.server", "9000"]
