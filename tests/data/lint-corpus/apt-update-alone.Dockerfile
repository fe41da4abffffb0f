# corpus-expect: SP202 SP200 SP101 SP100
FROM debian:12
RUN apt-get update
RUN apt-get install -y curl && rm -rf /var/lib/apt/lists/*
ENTRYPOINT ["curl"]
