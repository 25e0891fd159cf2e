# GPU image: CUDA runtime, the project with its GPU packages (onnxruntime-gpu, faiss-gpu), non-root.
# The serving entry point (vcl serve, healthcheck on /readyz, model and index volumes) is added
# with the server; until then the image runs the vcl CLI.
FROM nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04

ENV DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3.11 python3.11-venv \
    && rm -rf /var/lib/apt/lists/* \
    && python3.11 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /app
COPY pyproject.toml README.md ./
COPY vcl ./vcl
COPY skeleton ./skeleton
COPY train ./train
COPY export ./export
COPY index ./index
COPY server ./server
RUN pip install --upgrade pip && pip install ".[gpu]"

RUN useradd --create-home --uid 10001 vcl
USER vcl
ENTRYPOINT ["vcl"]
CMD ["--help"]
