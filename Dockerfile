FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY stream ./stream
COPY monitors ./monitors
RUN pip install --no-cache-dir . && useradd --create-home driftline && mkdir -p /var/lib/driftline && chown driftline /var/lib/driftline
USER driftline
CMD ["driftline", "worker"]
