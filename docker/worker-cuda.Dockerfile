# syntax=docker/dockerfile:1.6
# The trainer-worker on NVIDIA GPUs (deploy/k8s/overlays/gpu), built against a libtorch
# with CUDA instead of Debian's CPU-only one. The libtorch is a build argument: the URL
# of a cxx11-ABI libtorch zip matching CUDA_TOOLKIT (see docker/README.md), e.g.
#   docker build -f docker/worker-cuda.Dockerfile -t vmle/vmle-worker-cuda \
#       --build-arg LIBTORCH_URL=<libtorch-cxx11-abi-shared-with-deps-2.x+cu124.zip> .
# The CUDA runtime libraries come inside that zip; the driver comes from the host
# (NVIDIA container toolkit).

FROM debian:12 AS builder
ARG LIBTORCH_URL
ARG LIBTORCH_SHA256=
ARG CUDA_KEYRING_URL=https://developer.download.nvidia.com/compute/cuda/repos/debian12/x86_64/cuda-keyring_1.1-1_all.deb
ARG CUDA_TOOLKIT=cuda-toolkit-12-4
ARG VMLE_JOBS=
COPY scripts/install-deps.sh /src/scripts/install-deps.sh
RUN /src/scripts/install-deps.sh
# libtorch's CMake package needs the CUDA toolkit (nvcc, headers) to configure.
RUN test -n "${LIBTORCH_URL}" || { echo "--build-arg LIBTORCH_URL=... is required" >&2; exit 1; } \
 && apt-get update && apt-get install -y --no-install-recommends curl unzip ca-certificates \
 && curl -fsSL -o /tmp/cuda-keyring.deb "${CUDA_KEYRING_URL}" && dpkg -i /tmp/cuda-keyring.deb \
 && apt-get update && apt-get install -y --no-install-recommends "${CUDA_TOOLKIT}" \
 && curl -fsSL -o /tmp/libtorch.zip "${LIBTORCH_URL}" \
 && { [ -z "${LIBTORCH_SHA256}" ] || echo "${LIBTORCH_SHA256}  /tmp/libtorch.zip" | sha256sum -c -; } \
 && unzip -q /tmp/libtorch.zip -d /opt && rm /tmp/libtorch.zip
COPY . /src
WORKDIR /src
RUN VMLE_BUILD_DIR=/src/build-image VMLE_JOBS="${VMLE_JOBS:-$(nproc)}" \
        scripts/build.sh -DVMLE_BUILD_TESTS=OFF -DTorch_DIR=/opt/libtorch/share/cmake/Torch \
        -DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc \
 && mkdir -p /out/bin /out/lib \
 && cp build-image/services/trainer/worker/vmle-worker build-image/services/cli/vmle /out/bin/ \
 && cp -a /root/.cache/vmle/prefix/usr/lib/x86_64-linux-gnu/libprometheus-cpp-*.so.* /out/lib/

FROM debian:12-slim
COPY docker/packages/runtime.txt /tmp/packages/
RUN apt-get update \
 && grep -hv '^#' /tmp/packages/runtime.txt | xargs apt-get install -y --no-install-recommends \
 && rm -rf /var/lib/apt/lists/* /tmp/packages
COPY --from=builder /out/lib/ /usr/local/lib/
COPY --from=builder /opt/libtorch/lib/ /opt/libtorch/lib/
RUN echo /opt/libtorch/lib > /etc/ld.so.conf.d/libtorch.conf && ldconfig \
 && groupadd --system --gid 10001 vmle \
 && useradd --system --uid 10001 --gid vmle --home-dir /var/lib/vmle --create-home vmle
COPY --from=builder /out/bin/vmle /out/bin/vmle-worker /usr/local/bin/
ENV NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    VMLE_LISTEN=0.0.0.0:50053 VMLE_METRICS=0.0.0.0:9093 VMLE_DATA_ROOT=/data VMLE_DEVICE=cuda:0
USER 10001:10001
WORKDIR /var/lib/vmle
EXPOSE 50053 9093
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["vmle", "health", "--timeout", "3", "127.0.0.1:50053"]
ENTRYPOINT ["vmle-worker"]
