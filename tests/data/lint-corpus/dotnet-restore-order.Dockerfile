# corpus-expect: SP207 SP101
FROM mcr.microsoft.com/dotnet/sdk:9.0 AS build
WORKDIR /src
COPY . .
RUN dotnet restore && dotnet publish -c Release -o /out

FROM mcr.microsoft.com/dotnet/runtime-deps:9.0
COPY --from=build /out /app
USER 1654
WORKDIR /app
ENTRYPOINT ["/app/worker"]
