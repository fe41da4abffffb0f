# corpus-expect: SP101
FROM python:3.12-slim
WORKDIR /srv
COPY . .
RUN python -m pip install --no-cache-dir -r requirements.txt
USER 1000:1000
ENTRYPOINT ["python", "main.py"]
