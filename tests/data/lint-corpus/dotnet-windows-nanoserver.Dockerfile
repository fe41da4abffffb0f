# escape=`
# corpus-expect: SP101 SP100
FROM mcr.microsoft.com/dotnet/sdk:8.0-nanoserver-ltsc2022 AS build
WORKDIR C:\src
COPY *.sln .
COPY App\*.csproj .\App\
RUN dotnet restore
COPY App\. .\App\
WORKDIR C:\src\App
RUN dotnet publish -c Release -o C:\app --no-restore

FROM mcr.microsoft.com/dotnet/runtime:8.0-nanoserver-ltsc2022
WORKDIR C:\app
COPY --from=build C:\app .
ENTRYPOINT ["dotnet", "App.dll"]
