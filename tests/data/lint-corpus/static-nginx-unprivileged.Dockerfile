# corpus-expect: none-above-info
FROM node:22-alpine@sha256:22c1edb32d80d7d5460fa55063156af7fa5daa79bf932170a06e30c9d8fbb09f AS build
WORKDIR /web
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY . .
RUN npm run build

FROM nginxinc/nginx-unprivileged:1.27-alpine@sha256:5a850651fd88097a7f942f0e01bcec3c5a6582979f3c424ebc0b56982790d2fc
COPY --chown=101:101 nginx/default.conf /etc/nginx/conf.d/default.conf
COPY --from=build /web/build /usr/share/nginx/html
USER 101
WORKDIR /usr/share/nginx/html
EXPOSE 8080
