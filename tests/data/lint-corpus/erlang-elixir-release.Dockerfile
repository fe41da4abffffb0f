# corpus-expect: SP101 SP200 SP201
FROM elixir:1.17-otp-27 AS build
ENV MIX_ENV=prod
WORKDIR /app
RUN mix local.hex --force && mix local.rebar --force
COPY mix.exs mix.lock ./
RUN mix deps.get --only prod && mix deps.compile
COPY lib lib
COPY config config
RUN mix release

FROM debian:bookworm-slim
RUN apt-get update -y && apt-get install -y libstdc++6 openssl libncurses6 locales ca-certificates
WORKDIR /app
RUN chown nobody /app
COPY --from=build --chown=nobody:root /app/_build/prod/rel/shop ./
USER nobody
CMD ["/app/bin/shop", "start"]
