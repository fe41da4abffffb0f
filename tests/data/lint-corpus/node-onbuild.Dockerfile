# corpus-expect: SP101 SP100
# A base image for the team's apps: each child build copies its own sources.
FROM node:20-alpine3.20
WORKDIR /usr/src/app
ONBUILD ARG NODE_ENV=production
ONBUILD ENV NODE_ENV=$NODE_ENV
ONBUILD COPY package*.json ./
ONBUILD RUN npm ci --omit=dev && npm cache clean --force
ONBUILD COPY . .
CMD ["node", "."]
