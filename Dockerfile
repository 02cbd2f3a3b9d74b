# syntax=docker/dockerfile:1
# One image for every mnistgrid service of docker-compose.yml: worker, orchestrator, migrate
# and Flower. CPU torch by default; a CUDA torch for the GPU workers with a build argument:
#
#   docker build -t mnistgrid .
#   docker build -t mnistgrid-gpu --build-arg TORCH_INDEX=https://pypi.org/simple .
#
# (PyPI's Linux torch wheels are the CUDA builds; or name a CUDA index such as
# https://download.pytorch.org/whl/cu128.)
#
# Offline, through a mirror or behind a proxy (docs/stack.md, "Build offline or behind a proxy"):
#
#   docker build --network host --build-arg PIP_NO_INDEX=1 \
#       --build-arg PIP_FIND_LINKS=http://127.0.0.1:8000/ -t mnistgrid .
#
# Only the legacy builder's features are used (no RUN --mount), so any Docker builds it.

# The base image; a registry mirror's copy of it works the same.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
FROM ${PYTHON_IMAGE}

ARG TORCH_SPEC=torch==2.13.0
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
# The user the services run as; match your own (`id -u`) to write ./reports without sudo.
ARG APP_UID=1000
ARG APP_GID=1000
# pip's own settings, for both installs below: another index (a mirror, a proxy's index), an
# extra one, a folder or page of wheels, no index at all, a host to trust without TLS checks.
# Unset or empty (the default) they change nothing: pip ignores an empty setting. The torch
# install names TORCH_INDEX itself, so a mirror of it goes in TORCH_INDEX, not PIP_INDEX_URL.
# HTTP_PROXY, HTTPS_PROXY and NO_PROXY are Docker's own build arguments and reach pip as well.
# Build arguments show in `docker history`: never put a password in an index URL.
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG PIP_FIND_LINKS
ARG PIP_NO_INDEX
ARG PIP_TRUSTED_HOST

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A proxy that re-signs TLS needs its CA trusted: PEM files named *.crt in certs/ join the
# system store, which pip is then told to use (it otherwise trusts only its own bundle).
# With none there (the default), nothing changes.
COPY certs/ /usr/local/share/ca-certificates/mnistgrid/
RUN find /usr/local/share/ca-certificates/mnistgrid -type f ! -name '*.crt' -delete \
    && if [ -n "$(ls /usr/local/share/ca-certificates/mnistgrid)" ]; then \
        update-ca-certificates \
        && printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' > /etc/pip.conf; \
    fi

# torch alone and first: the largest layer, and the only one the build arguments change.
RUN pip install "${TORCH_SPEC}" --index-url "${TORCH_INDEX}"

# Mount points are made here, owned by the user, so that a new named volume mounted on one
# starts with that owner (Docker copies the directory's ownership into an empty volume).
RUN groupadd --gid "${APP_GID}" mnistgrid \
    && useradd --uid "${APP_UID}" --gid mnistgrid --create-home --shell /usr/sbin/nologin mnistgrid \
    && mkdir -p /app/reports /data/cache/mnist /data/cache/tensors /data/flower \
    && chown mnistgrid:mnistgrid /app /app/reports \
    && chown -R mnistgrid:mnistgrid /data

WORKDIR /app

# The dependencies in their own layer: empty packages stand in for the source, so editing the
# code does not reinstall them. The editable install maps each package to /app/<package>, which
# is also why the code finds examples/ next to it (`mnistgrid demo` reads examples/quick.toml).
COPY pyproject.toml README.md ./
RUN mkdir mnistgrid workers orchestrator db \
    && touch mnistgrid/__init__.py workers/__init__.py orchestrator/__init__.py db/__init__.py \
    && pip install -e . \
    && rm -rf mnistgrid workers orchestrator db

COPY mnistgrid mnistgrid
COPY workers workers
COPY orchestrator orchestrator
COPY db db
COPY examples examples

USER mnistgrid

CMD ["mnistgrid", "--help"]
