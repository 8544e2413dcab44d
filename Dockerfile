# syntax=docker/dockerfile:1
# The amko-rs image: one static-ish binary, `amko`, with `run` (the operator) as the default command
# and `federate` for the federator container. Build from the repository root:
#   docker build -t amko-rs:0.1.0 .
# The chart's default image is `amko-rs:<appVersion>` (values: image.repository, image.tag).

# ---- build ---------------------------------------------------------------------------------
FROM rust:1-bookworm AS build
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
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/amko /usr/local/bin/amko
USER 65532:65532
# amko run listens here (/api/status, /healthz, /readyz, /metrics); amko federate on 8081.
EXPOSE 8080 8081
ENTRYPOINT ["/usr/local/bin/amko"]
CMD ["run"]
