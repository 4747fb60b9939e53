# The stubborn server in a container (Debian 12): a build stage with the compiler, and a small
# runtime stage with the binary, the shared libraries it links and nothing else, run as a
# non-root user.
#
#   docker build -t stubborn:0.1.0 .
#   docker run --rm -p 8080:8080 -v "$PWD/configs:/etc/stubborn:ro" stubborn:0.1.0
#
# The server serves every *.toml file of /etc/stubborn/ (the image has a small default one) on
# 0.0.0.0:8080 whatever their [server] listen says; arguments after the image name replace
# /etc/stubborn/ (stubborn --help lists them).

FROM debian:12 AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      g++ cmake ninja-build pkg-config \
      libboost1.81-dev libboost-json1.81-dev libtomlplusplus-dev libre2-dev libssl-dev libxml2-dev \
      libhiredis-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The build of scripts/run.sh: Release, without the tests and benchmarks.
RUN bash scripts/build.sh build Release -DSTUBBORN_TESTS=OFF -DSTUBBORN_BENCHMARKS=OFF \
 && strip build/stubborn

FROM debian:12-slim
# The libraries of the binary: the runtime Depends of the .deb, which .ci/deb.sh compares with
# this line.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libboost-json1.81.0 libhiredis0.14 libre2-9 libssl3 libtomlplusplus3 libxml2 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin stubborn
COPY --from=build /src/build/stubborn /usr/bin/stubborn
COPY deploy/docker/healthcheck.sh /usr/local/bin/stubborn-healthcheck
COPY deploy/etc/stubborn.toml /etc/stubborn/stubborn.toml
USER stubborn
WORKDIR /tmp
EXPOSE 8080
# GET /__admin/status on 8080 (the admin API on the main port, without a token; see
# deploy/docker/healthcheck.sh for a token or another port).
HEALTHCHECK --interval=10s --timeout=5s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/stubborn-healthcheck"]
ENTRYPOINT ["/usr/bin/stubborn", "--listen", "0.0.0.0:8080"]
CMD ["/etc/stubborn/"]
