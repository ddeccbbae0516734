# A small image with the vchip binary, for sweeps sharded over a cluster (docs/sweeps.md's
# Kubernetes Indexed Job). Build: `docker build -t vchip .`; run: `docker run --rm vchip simulate
# resnet50 --hw tpu-v1`. Presets and the model zoo are compiled into the binary, so the image needs
# nothing else; mount a volume for model files and sweep parts.
FROM rust:1.89-slim-bookworm AS build
WORKDIR /src
COPY . .
# The binary alone (no benches, tests or fuzz targets); Cargo.lock pins every dependency.
RUN cargo build --release --locked --bin vchip \
 && strip target/release/vchip

FROM debian:bookworm-slim
# wgpu loads Vulkan at run time only for `vchip validate --device gpu`; everything else needs libc.
COPY --from=build /src/target/release/vchip /usr/local/bin/vchip
USER nobody
WORKDIR /work
ENTRYPOINT ["vchip"]
CMD ["--help"]
