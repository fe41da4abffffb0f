# corpus-expect: SP101 SP106
FROM mcr.microsoft.com/dotnet/sdk:8.0-alpine AS build
RUN apk add --no-cache clang build-base zlib-dev
WORKDIR /src
COPY *.csproj ./
RUN dotnet restore -r linux-musl-x64
COPY . .
RUN dotnet publish -c Release -r linux-musl-x64 -p:PublishAot=true -p:StaticExecutable=true -o /out

FROM scratch
COPY --from=build /out/worker /worker
COPY --from=build --chmod=1777 /tmp /tmp
USER 65532:65532
WORKDIR /
ENTRYPOINT ["/worker"]
