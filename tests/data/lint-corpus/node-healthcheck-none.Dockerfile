# corpus-expect: SP104
FROM node:22-alpine@sha256:22c1edb32d80d7d5460fa55063156af7fa5daa79bf932170a06e30c9d8fbb09f
HEALTHCHECK NONE
WORKDIR /srv
COPY --chown=node:node package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force
COPY --chown=node:node lib/ lib/
USER node
STOPSIGNAL SIGTERM
CMD ["node", "lib/main.js"]
