# corpus-expect: SP210 SP101
FROM node:20-alpine
WORKDIR /app
COPY package.json yarn.lock ./
RUN yarn install --frozen-lockfile && yarn cache clean
COPY . .
RUN yarn build
USER node
CMD ["yarn", "start"]
