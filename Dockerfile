# The loanmetrics server image: stateless, configured entirely by environment variables
# (docs/DEPLOYMENT.md). Set DATABASE_URL; without it the server would start an embedded
# PostgreSQL inside the container, which is only meant for a quick local try-out.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# Only what the package needs (everything installable lives under loanmetrics/; README.md is its readme).
COPY pyproject.toml README.md LICENSE ./
COPY loanmetrics ./loanmetrics
RUN pip install . && rm -rf /src/build

RUN useradd --system --create-home --home-dir /home/loanmetrics --uid 10001 loanmetrics \
    && mkdir -p /var/lib/loanmetrics \
    && chown loanmetrics:loanmetrics /var/lib/loanmetrics
USER loanmetrics
WORKDIR /home/loanmetrics

# Listen on all interfaces inside the container; authentication stays enabled (the default), so
# LOANMETRICS_JWT_SECRET (or LOANMETRICS_JWT_PUBLIC_KEY) must be set.
ENV LOANMETRICS_HOST=0.0.0.0 \
    LOANMETRICS_PORT=8000 \
    LOANMETRICS_DATA_DIR=/var/lib/loanmetrics
EXPOSE 8000

# /healthz needs no token. The slim image has no curl: use Python.
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('LOANMETRICS_PORT', '8000') + '/healthz', timeout=2)"]

CMD ["loanmetrics", "serve", "--host", "0.0.0.0"]
