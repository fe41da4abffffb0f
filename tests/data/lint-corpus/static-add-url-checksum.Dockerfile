# syntax=docker/dockerfile:1.6
# corpus-expect: none-above-info
FROM nginxinc/nginx-unprivileged:1.27-bookworm@sha256:0a57e469f966fe19215ed28ceb1d4ced246cf979f1ed8a54672a1d71b9fe8c12
ADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d \
    https://example.com/releases/site-1.4.2.tar.gz /tmp/site.tar.gz
USER 101:101
WORKDIR /usr/share/nginx/html
EXPOSE 8080
