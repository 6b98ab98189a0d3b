# The lradvisor image: `lradvisor` is the entrypoint, so `docker run lradvisor worker ...`
# runs a worker. CPU torch by default; for a GPU build, pass
# --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu124 (and use a CUDA base).
# Target `dashboard` adds optuna-dashboard on top (see docker-compose.yml).
FROM python:3.11-slim AS lradvisor

ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1

WORKDIR /app
RUN pip install --index-url "${TORCH_INDEX}" "torch>=2.1"
COPY pyproject.toml README.md ./
COPY lradvisor ./lradvisor
RUN pip install ".[postgres,service]"
COPY studies ./studies

# Workers run as an unprivileged user; study files they write go to /app/studies.
RUN useradd --create-home lradvisor && chown -R lradvisor /app/studies
USER lradvisor
ENTRYPOINT ["lradvisor"]
CMD ["--help"]

FROM lradvisor AS dashboard
USER root
RUN pip install "optuna-dashboard>=0.15"
USER lradvisor
ENTRYPOINT []
CMD ["sh", "-c", "exec optuna-dashboard --host 0.0.0.0 --port 8080 \"$LRADVISOR_STORAGE\""]
