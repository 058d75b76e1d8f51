# syntax=docker/dockerfile:1.7
# One image for every role (`pingvas api`, `pingvas worker`, `pingvas migrate`, `pingvas serve`).
# TORCH_VARIANT=cpu (default: API pods, Graviton arm64 or x86_64) or cu128 (GPU workers, x86_64).
# The account app is committed built (frontend-overrides/app/dist), so no Node.js stage is needed.
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ARG TORCH_VARIANT=cpu
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update && apt-get install -y --no-install-recommends build-essential && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /app
COPY pyproject.toml ./
# torch first, from PyTorch's index for the variant; the project's pins then find it installed.
RUN pip install --index-url "https://download.pytorch.org/whl/${TORCH_VARIANT}" torch==2.14.1 torchvision==0.29.1
COPY invokeai_saas ./invokeai_saas
COPY tenant_middleware ./tenant_middleware
COPY billing ./billing
COPY patches ./patches
COPY frontend-overrides/brands ./frontend-overrides/brands
COPY frontend-overrides/locales ./frontend-overrides/locales
COPY frontend-overrides/static ./frontend-overrides/static
COPY frontend-overrides/app/dist ./frontend-overrides/app/dist
COPY deploy/entrypoint.sh ./deploy/entrypoint.sh
# Editable: wiring/branding.py finds frontend-overrides/ beside the packages, as in a checkout.
RUN pip install -e .

FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
RUN apt-get update && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 tini \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 10001 --create-home --home-dir /home/pingvas pingvas
COPY --from=build /opt/venv /opt/venv
COPY --from=build --chown=pingvas:pingvas /app /app
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 \
    PINGVAS_HOST=0.0.0.0 PINGVAS_PORT=9090 PINGVAS_DATA_DIR=/data PINGVAS_LOG_FORMAT=json
WORKDIR /app
USER 10001
EXPOSE 9090
# tini forwards SIGTERM to the role, which hands its queue items back before exiting.
ENTRYPOINT ["tini", "--", "deploy/entrypoint.sh"]
CMD ["api"]
