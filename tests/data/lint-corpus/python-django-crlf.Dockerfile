# corpus-expect: SP200 SP201 SP205 SP101 SP100
FROM python:3.11-slim-bookworm
ENV PYTHONUNBUFFERED 1
RUN apt-get update \
    && apt-get install -y libpq-dev gcc
WORKDIR /code
COPY requirements.txt /code/
RUN pip install -r requirements.txt
COPY . /code/
EXPOSE 8000
CMD ["python", "manage.py", "runserver", "0.0.0.0:8000"]
