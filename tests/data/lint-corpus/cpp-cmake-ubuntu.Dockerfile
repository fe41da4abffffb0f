# corpus-expect: SP100 SP200 SP201 SP102 SP302 SP303
FROM ubuntu:latest
RUN apt-get update && apt-get install -y build-essential cmake libboost-all-dev
COPY . /src
RUN cd /src && mkdir build && cd build && cmake .. -DCMAKE_BUILD_TYPE=Release && make -j"$(nproc)"
CMD /src/build/server
