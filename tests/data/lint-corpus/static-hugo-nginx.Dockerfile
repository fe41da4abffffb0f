# corpus-expect: SP101 SP405 SP100
FROM debian:bookworm-slim AS hugo
ARG HUGO_VERSION=0.134.2
ADD https://github.com/gohugoio/hugo/releases/download/v${HUGO_VERSION}/hugo_extended_${HUGO_VERSION}_linux-amd64.tar.gz /tmp/hugo.tgz
RUN tar -xzf /tmp/hugo.tgz -C /usr/local/bin hugo
WORKDIR /site
COPY . .
RUN hugo --minify --destination /public

FROM nginx:stable
COPY --from=hugo /public /usr/share/nginx/html
