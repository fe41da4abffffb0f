# corpus-expect: SP201 SP101 SP100
FROM debian:bookworm
RUN apt-get update && \

    apt-get install -y --no-install-recommends \

      git \
      openssh-client

ENTRYPOINT ["git"]
