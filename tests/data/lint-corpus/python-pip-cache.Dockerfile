# corpus-expect: SP205 SP100 SP101
FROM python:3.11
WORKDIR /code
COPY requirements.txt /code/
RUN pip install -r requirements.txt
COPY . /code/
CMD ["gunicorn", "app:app", "-b", "0.0.0.0:8000"]
