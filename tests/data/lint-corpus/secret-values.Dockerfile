# corpus-expect: SP407 SP101 SP100
FROM alpine:3.20
ENV AWS_ACCESS_KEY_ID_HINT=AKIAIOSFODNN7EXAMPLE
RUN git clone https://deploy:s3cr3tpassw0rd@git.example.com/team/repo.git /src
LABEL org.example.webhook="xoxb-1234567890-abcdefghijklmno"
WORKDIR /src
ENTRYPOINT ["/src/run"]
