# corpus-expect: none-above-info
FROM silkeh/clang:18@sha256:2e5de4ae67c769c7ea3c41136a8eac7bdbc31fb4922d30cf0aa8094418dd21fa AS build
WORKDIR /src
COPY CMakeLists.txt ./
COPY src/ src/
RUN cmake -S . -B build -DCMAKE_CXX_COMPILER=clang++ && cmake --build build -j 2

FROM gcr.io/distroless/cc-debian12@sha256:6f487e88e130f33f7c70460afa215d73e25f515e6d55850cb2de3ae632c2b6b2
COPY --from=build /src/build/indexer /indexer
USER 65532:65532
WORKDIR /work
ENTRYPOINT ["/indexer"]
