# LSTM Explainer: the web app, served by uvicorn on port 8000.
#   docker build -t lstm-explainer . && docker run --rm -p 8000:8000 lstm-explainer
# Stage 1 builds the wheel (app/, static/, templates/ -> lstm_explainer, see pyproject.toml);
# stage 2 installs the pinned requirements, then that wheel: the image runs the package as
# `pip install lstm-explainer` would, with no source tree beside it.
FROM python:3.11-slim AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml hatch_build.py requirements.txt README.md ./
COPY app/ ./app/
COPY static/ ./static/
COPY templates/ ./templates/
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim

# MALLOC_*: as `make run` (see the Makefile): the big arrays of finished runs go back to the OS
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MALLOC_ARENA_MAX=2 \
    MALLOC_MMAP_THRESHOLD_=131072

WORKDIR /srv

COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin explainer

# the dependencies are in already (the layer above is kept while only the code changes)
COPY --from=build /wheels/ /wheels/
RUN pip install --no-cache-dir --no-index /wheels/lstm_explainer-*.whl \
    && rm -rf /wheels

USER 10001

EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request, sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"]

# the command sets the graceful-shutdown, ping and message-size options `make run` uses
CMD ["lstm-explainer", "serve", "--host", "0.0.0.0", "--port", "8000"]
