# corpus-expect: none-above-info
FROM node:22-bookworm-slim@sha256:b4802fa89fd528d3a59c18b70938f235430a1a7d26c688143b51bf04cdb7fdca AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
RUN npm run build && npm prune --omit=dev

FROM gcr.io/distroless/nodejs22-debian12:nonroot@sha256:8fcb80b35544116b516fbd832b26fa68647096e69761d092e3a65d7b62604c11
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
CMD ["dist/main.js"]
