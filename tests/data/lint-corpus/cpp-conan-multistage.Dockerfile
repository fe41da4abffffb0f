# corpus-expect: SP205 SP101 SP200
FROM ubuntu:24.04 AS deps
RUN apt-get update \
 && apt-get install -y python3-pip cmake g++ \
 && rm -rf /var/lib/apt/lists/*
RUN pip3 install --break-system-packages conan==2.9.1

FROM deps AS build
WORKDIR /src
COPY conanfile.txt .
RUN conan profile detect && conan install . --build=missing
COPY . .
RUN cmake --preset conan-release && cmake --build --preset conan-release

FROM ubuntu:24.04
RUN useradd --system --uid 10001 app
COPY --from=build /src/build/Release/engine /usr/local/bin/engine
USER app
WORKDIR /srv
ENTRYPOINT ["engine"]
