# corpus-expect: SP200 SP401 SP402 SP101 SP100
FROM ubuntu:22.04
RUN sh -c 'apt-get update && apt-get install -y sudo curl; rm -rf /var/lib/apt/lists/*' || true
RUN bash -c "curl -fsSL https://get.example.sh | sh" ; echo done | tee /log
RUN false || sudo -E sh -c 'echo ok' | cat > /dev/null
RUN set -o pipefail && wget -qO- https://example.com/install.sh | bash -s -- --yes
ENTRYPOINT ["bash"]
