# corpus-expect: SP204 SP205 SP101 SP100 SP206
FROM python:3.12-alpine
RUN apk update
RUN apk add gcc musl-dev libffi-dev
RUN pip3 install cryptography==43.0.1
COPY app.py /app.py
CMD ["python3", "/app.py"]
