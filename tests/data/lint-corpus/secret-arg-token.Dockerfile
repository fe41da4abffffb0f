# corpus-expect: SP400 SP101
FROM node:22-alpine AS build
ARG NPM_TOKEN=npm_placeholder_value
ARG GITHUB_TOKEN
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev
USER node
CMD ["node", "index.js"]
