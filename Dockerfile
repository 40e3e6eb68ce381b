# One image for api, worker and scheduler (the command picks the role).
FROM node:20-bookworm-slim AS web
WORKDIR /app/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/ ./

FROM python:3.11-slim-bookworm
WORKDIR /app
COPY pyproject.toml README.md ./
COPY dispatch/ dispatch/
COPY workers/ workers/
RUN pip install --no-cache-dir .
COPY --from=web /app/web /app/web
ENV GRID_DATA_DIR=/data
EXPOSE 8000
CMD ["grid-dispatch", "api", "--host", "0.0.0.0", "--port", "8000"]
