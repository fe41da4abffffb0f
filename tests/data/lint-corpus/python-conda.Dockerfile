# corpus-expect: SP101 SP100
FROM continuumio/miniconda3:24.7.1-0
WORKDIR /app
COPY environment.yml .
RUN conda env create -f environment.yml && conda clean -afy
SHELL ["conda", "run", "-n", "myenv", "/bin/bash", "-c"]
COPY run.py .
ENTRYPOINT conda run --no-capture-output -n myenv python run.py
