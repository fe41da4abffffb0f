# corpus-expect: SP101 SP106 SP107
FROM haskell:9.6 AS build
WORKDIR /src
COPY stack.yaml package.yaml ./
RUN stack build --only-dependencies
COPY . .
RUN stack build --copy-bins --local-bin-path /out --ghc-options='-static -optl-static -optl-pthread'

FROM scratch
COPY --from=build /out/server /server
USER 65532
ENTRYPOINT ["/server"]
