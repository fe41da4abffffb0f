# corpus-expect: SP210 SP205 SP101
FROM python:3.12-slim
ENV POETRY_VIRTUALENVS_CREATE=false
WORKDIR /app
RUN pip install poetry==1.8.3
COPY pyproject.toml poetry.lock ./
RUN poetry install --no-interaction --no-ansi
COPY . .
USER 10001
CMD ["uvicorn", "app.main:app", "--host", "0.0.0.0"]
