# corpus-expect: SP402 SP101 SP210
FROM node:20-bullseye
RUN apt-get update && apt-get install -y --no-install-recommends sudo \
    && rm -rf /var/lib/apt/lists/* \
    && echo "node ALL=(ALL) NOPASSWD:ALL" >> /etc/sudoers
USER node
WORKDIR /home/node/app
COPY --chown=node package*.json ./
RUN sudo npm install -g npm@10.8.2 && npm ci
COPY --chown=node . .
CMD ["npm", "start"]
