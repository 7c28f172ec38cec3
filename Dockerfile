# radsim + radtrain container images (see containers/README.md). BuildKit is needed (RUN --mount):
#
#   DOCKER_BUILDKIT=1 docker build --target radsim   -t radsim:0.1.0   .   # Yandasoft, casacore, WSClean, Open MPI 4
#   DOCKER_BUILDKIT=1 docker build --target radtrain -t radtrain:0.1.0 .   # CUDA 12.2, TensorFlow 2.15.1, Horovod+NCCL
#   DOCKER_BUILDKIT=1 docker build --target radtrain --build-arg RADTRAIN_VARIANT=cpu \
#       --build-arg RADTRAIN_BASE=debian:bookworm -t radtrain:0.1.0-cpu .   # CPU nodes, laptops, the tests
#
# Build arguments: RADSIM_BASE and RADTRAIN_BASE choose the bases (the tests use a Debian bookworm made locally
# with mmdebstrap); RADTRAIN_VARIANT gpu|cpu; RADSIM_SOURCE and RADSIM_REVISION label the images with where they
# were built from. Behind a TLS-intercepting proxy add --secret id=cacert,src=/etc/ssl/certs/ca-certificates.crt:
# pip uses it during the build and no layer keeps it.
#
# Both install the project with containers/install.sh from constraints.txt, as the host set-up does, into
# /opt/radsim with the base's Python (>= 3.10; a standalone CPython 3.11 only where the base has none). The
# dependencies are one layer and the project another, so that changing the source rebuilds seconds, not
# Horovod. The Apptainer recipes (containers/*.def) start from these images.

ARG RADSIM_BASE=csirocass/yandasoft:release-openmpi4
ARG RADTRAIN_BASE=nvidia/cuda:12.2.2-cudnn8-devel-ubuntu22.04

# What both images install from, in two parts: the metadata their dependencies are read from, and the source
FROM scratch AS meta
COPY setup.cfg pyproject.toml constraints.txt README.md /src/
COPY containers/install.sh containers/selftest.sh /opt/radsim-container/

FROM scratch AS src
COPY radsim /src/radsim
COPY radtrain /src/radtrain

# ------------------------------------------------------------------------------------------------------------
# Simulation image. Default base: the Yandasoft team's published image with Open MPI 4 (csimulator, imager and
# casacore built and tested by them; rebuilding Yandasoft takes hours and many pinned dependencies).
FROM ${RADSIM_BASE} AS radsim
ARG RADSIM_BASE
ARG RADSIM_VERSION=0.1.0
ARG RADSIM_SOURCE=unknown
ARG RADSIM_REVISION=unknown
LABEL org.opencontainers.image.title="radsim" \
      org.opencontainers.image.version="${RADSIM_VERSION}" \
      org.opencontainers.image.description="Simulated radio skies imaged as ASKAP would (fast imager, WSClean, Yandasoft), sharded HDF5 tiles" \
      org.opencontainers.image.source="${RADSIM_SOURCE}" \
      org.opencontainers.image.revision="${RADSIM_REVISION}" \
      org.opencontainers.image.base.name="${RADSIM_BASE}"
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV DEBIAN_FRONTEND=noninteractive
# compilers and Python headers for mpi4py, built against the base's own Open MPI (the distribution's only when
# the base has no mpicc); WSClean from the distribution where it is packaged
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates gcc g++ make python3 python3-dev python3-venv python3-pip \
 && (command -v mpicc || apt-get install -y --no-install-recommends libopenmpi-dev openmpi-bin) \
 && (apt-get install -y --no-install-recommends wsclean || echo "WSClean is not packaged for this base: backend wsclean unavailable") \
 && rm -rf /var/lib/apt/lists/*
COPY --from=meta /src /src
COPY --from=meta /opt/radsim-container /opt/radsim-container
RUN --mount=type=secret,id=cacert bash /opt/radsim-container/install.sh radsim /src --deps-only
COPY --from=src /src /src
RUN --mount=type=secret,id=cacert bash /opt/radsim-container/install.sh radsim /src --project-only && rm -rf /src
ENV PATH=/opt/radsim/bin:$PATH \
    OMP_NUM_THREADS=1 \
    HDF5_USE_FILE_LOCKING=FALSE
WORKDIR /work
ENTRYPOINT ["radsim"]
CMD ["--help"]

# ------------------------------------------------------------------------------------------------------------
# Training image. Default base: NVIDIA's CUDA 12.2 + cuDNN 8 development image (what TensorFlow 2.15 is built
# for, with the headers Horovod's NCCL operations need). RADTRAIN_VARIANT=cpu on a plain Debian/Ubuntu base
# installs tensorflow-cpu and builds Horovod without GPU operations. Horovod always has MPI (the distribution's
# Open MPI 4) and Gloo controllers.
FROM ${RADTRAIN_BASE} AS radtrain
ARG RADTRAIN_BASE
ARG RADTRAIN_VARIANT=gpu
ARG RADSIM_VERSION=0.1.0
ARG RADSIM_SOURCE=unknown
ARG RADSIM_REVISION=unknown
LABEL org.opencontainers.image.title="radtrain" \
      org.opencontainers.image.version="${RADSIM_VERSION}" \
      org.opencontainers.image.description="CNN training on radsim tiles: TensorFlow 2.15.1, Horovod 0.28.1 (MPI, Gloo; NCCL on GPU)" \
      org.opencontainers.image.source="${RADSIM_SOURCE}" \
      org.opencontainers.image.revision="${RADSIM_REVISION}" \
      org.opencontainers.image.base.name="${RADTRAIN_BASE}" \
      org.radsim.variant="${RADTRAIN_VARIANT}"
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV DEBIAN_FRONTEND=noninteractive \
    RADTRAIN_VARIANT=${RADTRAIN_VARIANT}
# NCCL's packages come from NVIDIA's repository, which the CUDA base configures
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates gcc g++ make python3 python3-dev python3-venv python3-pip \
        libopenmpi-dev openmpi-bin \
 && if [ "$RADTRAIN_VARIANT" = gpu ]; then apt-get install -y --no-install-recommends libnccl2 libnccl-dev; fi \
 && rm -rf /var/lib/apt/lists/*
COPY --from=meta /src /src
COPY --from=meta /opt/radsim-container /opt/radsim-container
RUN --mount=type=secret,id=cacert bash /opt/radsim-container/install.sh radtrain /src --deps-only
COPY --from=src /src /src
RUN --mount=type=secret,id=cacert bash /opt/radsim-container/install.sh radtrain /src --project-only && rm -rf /src
ENV PATH=/opt/radsim/bin:$PATH \
    HDF5_USE_FILE_LOCKING=FALSE \
    TF_CPP_MIN_LOG_LEVEL=2
WORKDIR /work
ENTRYPOINT ["radtrain"]
CMD ["--help"]
