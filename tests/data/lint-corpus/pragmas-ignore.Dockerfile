# corpus-expect: SP201 SP100
# scratchpack global ignore=SP101
FROM debian:12-slim
# hadolint ignore=DL3015
RUN apt-get update && apt-get install -y curl
# scratchpack ignore=SP302
RUN cd /opt && ls
WORKDIR /opt
CMD ["curl", "--help"]
