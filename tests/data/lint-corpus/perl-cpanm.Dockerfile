# corpus-expect: SP101 SP100 SP303
FROM perl:5.40
WORKDIR /usr/src/app
COPY cpanfile .
RUN cpanm --installdeps --notest .
COPY . .
CMD perl ./app.pl daemon -l http://*:3000
