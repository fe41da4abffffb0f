# corpus-expect: SP303 SP101
FROM busybox:1.36-musl
RUN adduser -D -u 1000 static
USER static
WORKDIR /home/static
COPY public/ .
CMD busybox httpd -f -v -p 3000
