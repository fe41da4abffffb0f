# escape=`
# corpus-expect: SP101 SP100
FROM mcr.microsoft.com/windows/servercore:ltsc2022
SHELL ["powershell", "-Command", "$ErrorActionPreference = 'Stop'; $ProgressPreference = 'SilentlyContinue';"]
ENV JAVA_HOME=C:\openjdk-21
RUN $url = 'https://example.com/openjdk-21_windows-x64_bin.zip'; `
    Invoke-WebRequest -Uri $url -OutFile 'openjdk.zip'; `
    Expand-Archive openjdk.zip -DestinationPath C:\ ; `
    Remove-Item -Path openjdk.zip
COPY target\app.jar C:\app\app.jar
WORKDIR C:\app
CMD ["C:\\openjdk-21\\bin\\java.exe", "-jar", "C:\\app\\app.jar"]
