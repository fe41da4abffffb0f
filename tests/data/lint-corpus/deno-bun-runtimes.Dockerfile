# corpus-expect: SP101 SP303
FROM oven/bun:1.1 AS bun
WORKDIR /app
COPY package.json bun.lockb ./
RUN bun install --frozen-lockfile --production
COPY . .

FROM denoland/deno:2.0.0
WORKDIR /app
COPY --from=bun /app /app
USER deno
CMD deno run --allow-net main.ts
