# corpus-expect: SP211 SP206 SP101 SP100
FROM ubuntu:24.04
COPY installer.run /tmp/installer.run
RUN sh /tmp/installer.run --quiet
RUN rm -f /tmp/installer.run
WORKDIR /build
RUN wget https://example.com/assets.zip
RUN unzip assets.zip -d /opt/assets && rm -f assets.zip
ENTRYPOINT ["/opt/app/bin/start"]
