# syntax=docker/dockerfile:1.7
# corpus-expect: SP104
FROM node:22-alpine@sha256:22c1edb32d80d7d5460fa55063156af7fa5daa79bf932170a06e30c9d8fbb09f
ARG GITHUB_TOKEN
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=secret,id=npmrc,target=/root/.npmrc npm ci --omit=dev
COPY --chown=node:node src/ src/
USER node
CMD ["node", "src/index.js"]
