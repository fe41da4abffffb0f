# escape=`
# corpus-expect: SP101 SP100
FROM mcr.microsoft.com/powershell:7.4-ubuntu-22.04
SHELL ["pwsh", "-NoLogo", "-NoProfile", "-Command"]
RUN Install-Module -Name PSScriptAnalyzer -RequiredVersion 1.22.0 -Force -Scope AllUsers; `
    Get-Module -ListAvailable PSScriptAnalyzer | Select-Object Name, Version
RUN $ErrorActionPreference = 'Stop'; New-Item -ItemType Directory -Path /scripts | Out-Null
COPY scripts/ /scripts/
WORKDIR /scripts
ENTRYPOINT ["pwsh", "-File", "/scripts/main.ps1"]
