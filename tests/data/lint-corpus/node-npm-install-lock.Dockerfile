# corpus-expect: SP209 SP210 SP101 SP100
FROM node:20-bookworm-slim
WORKDIR /usr/src/app
COPY package.json package-lock.json ./
RUN npm install
COPY . .
EXPOSE 3000
CMD ["node", "server.js"]
