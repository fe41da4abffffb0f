# corpus-expect: SP101 SP100
FROM python:3.12-slim
ENV POSTGRES_PASSWORD_FILE=/run/secrets/db_password
WORKDIR /app
COPY . .
CMD ["python", "app.py"]
