# corpus-expect: SP400 SP101 SP100
FROM python:3.12
ENV DJANGO_SECRET_KEY=change-me-please \
    DATABASE_PASSWORD=hunter2
ARG PYPI_TOKEN=pypi-AgEIcHlwaS5vcmcCJDEyMzQ
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
CMD ["python", "manage.py", "runserver", "0.0.0.0:8000"]
