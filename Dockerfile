# GPU serving image: CUDA runtime, the project with the GPU packages (onnxruntime-gpu, faiss-gpu),
# no torch (the server never imports it), non-root, model and index as volumes.
#   docker build -t vcl-serve .
#   docker run --gpus all -p 8000:8000 -v $PWD/models/x:/models/model:ro -v $PWD/indexes/x:/models/index \
#       [-v /data/clips:/data:ro] [-e VCL_READ_OPEN=false -e VCL_API_KEY=...] vcl-serve
# Settings are VCL_* variables (docs/server.md); index mutation stays off unless VCL_ALLOW_MUTATION
# and a real VCL_ADMIN_KEY are given.
# One CUDA major for the image and the `gpu` extra (pyproject.toml; docs/server.md "GPU stack";
# bench/gpu_stack_check.py fails when they drift apart): CUDA 12. onnxruntime-gpu 1.26.0 was built
# with CUDA 12.8 and links libcudart/libcublas/libcublasLt.so.12, libcufft.so.11, libcurand.so.10 and
# libcudnn.so.9, so the base is CUDA 12.8 with cuDNN 9 (the unnumbered `cudnn` tags carry cuDNN 9).
# faiss-gpu 1.15.1 (CUDA 12) loads its own CUDA 12 runtime from the nvidia-*-cu12 wheels it requires.
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu22.04

ENV DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3.11 python3.11-venv curl \
    && rm -rf /var/lib/apt/lists/* \
    && python3.11 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /app
COPY pyproject.toml README.md ./
COPY vcl ./vcl
COPY common ./common
COPY skeleton ./skeleton
COPY train ./train
COPY export ./export
COPY runtime ./runtime
COPY index ./index
COPY server ./server
RUN pip install --upgrade pip && pip install ".[gpu]"
# Needs no GPU: every library the CUDA provider and FAISS link must resolve in the image, or the
# server would start and quietly run on the CPU. (libcuda.so.1, the driver, is mounted at run time.)
RUN site=$(python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])") \
    && ldd "$site/onnxruntime/capi/libonnxruntime_providers_cuda.so" "$site/faiss/libfaiss.so" > /tmp/ldd.txt \
    && missing=$(grep "not found" /tmp/ldd.txt | grep -v "libcuda\.so\.1" || true) && rm /tmp/ldd.txt \
    && if [ -n "$missing" ]; then echo "CUDA libraries missing from the image:"; echo "$missing"; exit 1; fi

RUN useradd --create-home --uid 10001 vcl
RUN mkdir -p /data && chown vcl /data
USER vcl
VOLUME ["/models/model", "/models/index", "/data"]
ENV VCL_MODEL_DIR=/models/model VCL_INDEX_DIR=/models/index VCL_DATA_ROOT=/data
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s CMD curl -fsS http://127.0.0.1:8000/readyz || exit 1
ENTRYPOINT ["vcl", "serve", "--model", "/models/model", "--host", "0.0.0.0", "--port", "8000"]
