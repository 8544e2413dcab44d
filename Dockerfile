# syntax=docker/dockerfile:1
# The amko-rs image: one static-ish binary, `amko`, with `run` (the operator) as the default command
# and `federate` for the federator container. Build from the repository root:
#   docker build -t amko-rs:0.1.0 .
# The chart's default image is `amko-rs:<appVersion>` (values: image.repository, image.tag).

# Base images are pinned by index (multi-platform) digest, so one commit always builds from the same
# compiler and runtime libraries; a tag alone moves. The digests were NOT resolved on the machine that
# pinned them (no registry was reachable there): they are the ones several independent public
# Dockerfiles and build logs record for these tags. docs/helm.md ("The image's base images") says
# where they come from and how to verify and refresh them; tests/chart_render.rs fails on a FROM
# without a digest.

# ---- build ---------------------------------------------------------------------------------
# Rust 1.95: the toolchain CI builds and tests with (the workspace needs >= its rust-version).
FROM rust:1.95-bookworm@sha256:6258907abe69656e41cd992e0b705cdcfabcbbe3db374f92ed2d47121282d4a1 AS build
WORKDIR /src
# The whole workspace: cargo reads every member's manifest (and the test and bench targets they
# list) even when it builds one binary.
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY sim sim
COPY actors actors
COPY tests tests
COPY benches benches
# --locked: the image is built from exactly the versions CI tested. --no-default-features: the
# production binary carries no simulators (`amko sim` and `amko demo` are left out).
RUN cargo build --release --locked -p amko-actors --no-default-features --bin amko \
 && install -D -m 0755 target/release/amko /out/amko

# ---- runtime -------------------------------------------------------------------------------
# distroless cc: glibc and libgcc (the binary links them dynamically), CA certificates, no shell.
# The :nonroot tag runs as UID/GID 65532, which the chart's securityContext also sets.
FROM gcr.io/distroless/cc-debian12:nonroot@sha256:9dac0a79194e45a7da0158a9c6da57b217585af0786db3845d1f0ec1a0dd182f
COPY --from=build /out/amko /usr/local/bin/amko
USER 65532:65532
# amko run listens here (/api/status, /healthz, /readyz, /metrics); amko federate on 8081.
EXPOSE 8080 8081
ENTRYPOINT ["/usr/local/bin/amko"]
CMD ["run"]
