# The sidecar image. nginx runs from the official nginx image (it ships njs),
# sharing this container's network so both use 127.0.0.1 as they do natively.
FROM python:3.11-slim-bookworm
WORKDIR /app
COPY pyproject.toml README.md ./
COPY lmgate ./lmgate
COPY nginx ./nginx
RUN pip install --no-cache-dir .
COPY config ./config
ENV LMGATE_SERVER__NJS_MODULE=/etc/nginx/modules/ngx_http_js_module.so \
    LMGATE_SERVER__NGINX_DIR=/app/nginx \
    LMGATE_SERVER__RUN_DIR=/app/run
EXPOSE 8080
# Render nginx.conf for the nginx container into the shared run/ volume, then serve, restarting the
# sidecar if it dies (nginx runs in its own container).
CMD ["lmgate", "up", "--without-nginx"]
