# corpus-expect: SP102 SP100 SP303
FROM node:latest
WORKDIR /app
COPY package.json .
RUN npm install --production
COPY . .
CMD npm start
