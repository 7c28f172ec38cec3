# radsim + radtrain container images (see containers/README.md).
#
#   docker build --target radsim   -t radsim:0.1.0   .     # simulation: Yandasoft, casacore, WSClean, Open MPI 4
#   docker build --target radtrain -t radtrain:0.1.0 .     # training: CUDA 12.2, TensorFlow 2.15.1, Horovod+NCCL
#   (add --build-arg RADSIM_SOURCE=$(git remote get-url origin) --build-arg RADSIM_REVISION=$(git rev-parse HEAD)
#   to label the images with where they were built from)
#
# Both install the project with containers/install.sh from constraints.txt, exactly as the host set-up does,
# into a standalone CPython 3.11 (the bases ship older system Pythons). Apptainer recipes with the same steps:
# containers/radsim.def and containers/radtrain.def.

ARG YANDASOFT_IMAGE=csirocass/yandasoft:release-openmpi4
ARG CUDA_IMAGE=nvidia/cuda:12.2.2-cudnn8-devel-ubuntu22.04
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.5.11

FROM ${UV_IMAGE} AS uv

# The project's files both images install from (one place, so the two targets cannot copy different sets)
FROM scratch AS src
COPY setup.cfg pyproject.toml constraints.txt README.md /src/
COPY radsim /src/radsim
COPY radtrain /src/radtrain
COPY containers/install.sh containers/selftest.sh /opt/radsim-container/

# ------------------------------------------------------------------------------------------------------------
# Simulation image. Base: the Yandasoft team's published image with Open MPI 4 (csimulator, imager and
# casacore built and tested by them; rebuilding Yandasoft takes hours and many pinned dependencies).
FROM ${YANDASOFT_IMAGE} AS radsim
ARG RADSIM_VERSION=0.1.0
ARG RADSIM_SOURCE=unknown
ARG RADSIM_REVISION=unknown
LABEL org.opencontainers.image.title="radsim" \
      org.opencontainers.image.version="${RADSIM_VERSION}" \
      org.opencontainers.image.description="Simulated radio skies imaged as ASKAP would (fast imager, WSClean, Yandasoft), sharded HDF5 tiles" \
      org.opencontainers.image.source="${RADSIM_SOURCE}" \
      org.opencontainers.image.revision="${RADSIM_REVISION}"
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV DEBIAN_FRONTEND=noninteractive
# compilers for mpi4py, built against the base's own Open MPI (Ubuntu's only when the base has no mpicc);
# WSClean from the distribution where it is packaged
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates gcc g++ make \
 && (command -v mpicc || apt-get install -y --no-install-recommends libopenmpi-dev openmpi-bin) \
 && (apt-get install -y --no-install-recommends wsclean || echo "WSClean is not packaged for this base: backend wsclean unavailable") \
 && rm -rf /var/lib/apt/lists/*
COPY --from=uv /uv /usr/local/bin/uv
COPY --from=src /src /src
COPY --from=src /opt/radsim-container /opt/radsim-container
RUN bash /opt/radsim-container/install.sh radsim /src && rm -rf /src
ENV PATH=/opt/radsim/bin:$PATH \
    OMP_NUM_THREADS=1 \
    HDF5_USE_FILE_LOCKING=FALSE
WORKDIR /work
ENTRYPOINT ["radsim"]
CMD ["--help"]

# ------------------------------------------------------------------------------------------------------------
# Training image. Base: NVIDIA's CUDA 12.2 + cuDNN 8 development image (what TensorFlow 2.15 is built for);
# TensorFlow 2.15.1 comes from the constraints file, Horovod is built here with NCCL for GPU allreduce and
# with MPI (Open MPI 4 from Ubuntu) and Gloo controllers.
FROM ${CUDA_IMAGE} AS radtrain
ARG RADSIM_VERSION=0.1.0
ARG RADSIM_SOURCE=unknown
ARG RADSIM_REVISION=unknown
LABEL org.opencontainers.image.title="radtrain" \
      org.opencontainers.image.version="${RADSIM_VERSION}" \
      org.opencontainers.image.description="CNN training on radsim tiles: TensorFlow 2.15.1, Horovod 0.28.1 (NCCL, MPI, Gloo)" \
      org.opencontainers.image.source="${RADSIM_SOURCE}" \
      org.opencontainers.image.revision="${RADSIM_REVISION}"
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates gcc g++ make libopenmpi-dev openmpi-bin \
        libnccl2 libnccl-dev \
 && rm -rf /var/lib/apt/lists/*
COPY --from=uv /uv /usr/local/bin/uv
COPY --from=src /src /src
COPY --from=src /opt/radsim-container /opt/radsim-container
RUN bash /opt/radsim-container/install.sh radtrain /src && rm -rf /src
ENV PATH=/opt/radsim/bin:$PATH \
    HDF5_USE_FILE_LOCKING=FALSE \
    TF_CPP_MIN_LOG_LEVEL=2
WORKDIR /work
ENTRYPOINT ["radtrain"]
CMD ["--help"]
