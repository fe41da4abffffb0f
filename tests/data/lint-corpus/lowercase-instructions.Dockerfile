# corpus-expect: SP200 SP303 SP101 SP100
from ubuntu:22.04 as build
run apt-get update && apt-get install -y make gcc
workdir /src
copy . .
run make

from ubuntu:22.04
copy --from=build /src/out/app /usr/local/bin/app
cmd app --serve
