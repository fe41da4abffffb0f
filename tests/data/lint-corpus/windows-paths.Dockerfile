# escape=`
# corpus-expect: SP101 SP100
FROM mcr.microsoft.com/windows/nanoserver:ltsc2022
ENV APP_DIR="C:\Program Files\App" `
    PATH="C:\Windows\system32;C:\Windows;C:\Program Files\App"
COPY ["build\Release\app.exe", "C:\\Program Files\\App\\"]
COPY config\*.ini "C:\Program Files\App\config\"
WORKDIR "C:\Program Files\App"
CMD ["app.exe", "--config", "config\\app.ini"]
