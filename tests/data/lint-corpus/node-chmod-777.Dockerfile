# corpus-expect: SP404 SP101
FROM node:22-slim
WORKDIR /app
COPY --chmod=777 entrypoint.sh /usr/local/bin/entrypoint.sh
COPY package*.json ./
RUN npm ci --omit=dev && mkdir -p /app/uploads && chmod -R 777 /app/uploads
COPY . .
USER node
ENTRYPOINT ["/usr/local/bin/entrypoint.sh"]
