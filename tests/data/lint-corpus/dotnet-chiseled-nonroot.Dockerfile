# corpus-expect: none-above-info
FROM mcr.microsoft.com/dotnet/sdk:8.0-jammy@sha256:b847d7fca95b3a6b193ca1989b39f36dbc7d6faefc6357765a553d153ccb5409 AS build
WORKDIR /source
COPY *.csproj .
RUN dotnet restore --use-current-runtime
COPY . .
RUN dotnet publish --use-current-runtime --self-contained false --no-restore -o /app

FROM mcr.microsoft.com/dotnet/aspnet:8.0-jammy-chiseled@sha256:d6d8678f20924a3ed700e60acb1163159d6c3c94fb29ef17ad0ac48bd09f4d84
WORKDIR /app
COPY --from=build /app .
USER app
ENTRYPOINT ["./aspnetapp"]
