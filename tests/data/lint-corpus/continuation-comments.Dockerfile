# corpus-expect: SP200 SP101 SP100
FROM ubuntu:24.04
RUN apt-get update \
    # the compiler toolchain
    && apt-get install -y \
        build-essential \
        # for the TLS bindings
        libssl-dev \
    # and clean up
    && rm -rf /var/lib/apt/lists/*
CMD ["bash"]
