# mockserver as a CI service: `docker build -t mockserver .` then
# `docker run -p 8080:8080 mockserver` (built-in scenarios) or mount a folder at /scenarios.
# PYTHON_IMAGE: any Debian-based image with python3 >= 3.11 and venv (the default, or a local one).
ARG PYTHON_IMAGE=python:3.12-slim

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY mockserver ./mockserver
COPY scenarios ./scenarios
# a venv that the final stage copies whole; pip and the build tools stay behind
RUN python3 -m venv /opt/mockserver \
 && /opt/mockserver/bin/pip install --no-cache-dir --disable-pip-version-check '.[tls,redis]' \
 && /opt/mockserver/bin/pip uninstall --yes --quiet pip setuptools \
 && mkdir /scenarios

# the Redis that replicas share (compose.yaml, deploy/k8s): `--target redis`, from the same base
# and the distribution's redis-server, since no other image may be reachable; also what
# `serve --workers N` starts privately when no --state is given
FROM ${PYTHON_IMAGE} AS redis
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null \
 && rm -rf /var/lib/apt/lists/*
USER 10001:10001
EXPOSE 6379
STOPSIGNAL SIGTERM
ENTRYPOINT ["redis-server", "--bind", "0.0.0.0", "--port", "6379", "--save", "", "--appendonly", "no", "--protected-mode", "no", "--dir", "/tmp"]

FROM ${PYTHON_IMAGE}
COPY --from=build /opt/mockserver /opt/mockserver
COPY --from=build /scenarios /scenarios
ENV PATH=/opt/mockserver/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MOCKSERVER_HOST=0.0.0.0 \
    MOCKSERVER_PORT=8080
# no root inside: nothing here needs it, and a mounted /scenarios only has to be world-readable
USER 10001:10001
EXPOSE 8080
STOPSIGNAL SIGTERM
# healthy = the control API answers on MOCKSERVER_PORT; sends the token from the environment when
# one is set, never goes through a proxy, and skips certificate checks for TLS (it is this
# container talking to itself over loopback)
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 CMD ["python3", "-c", "import os,ssl,urllib.request as u; e=os.environ.get; t=e('MOCKSERVER_ADMIN_TOKEN'); s='https' if e('MOCKSERVER_TLS','').lower() in ('1','true','yes','on') or e('MOCKSERVER_TLS_CERT') else 'http'; o=u.build_opener(u.ProxyHandler({}), u.HTTPSHandler(context=ssl._create_unverified_context())); o.open(u.Request(s+'://127.0.0.1:'+e('MOCKSERVER_PORT','8080')+'/__mock/health', headers={'Authorization': 'Bearer '+t} if t else {}), timeout=2)"]
# serve /scenarios when something is mounted there, else the built-in scenarios; arguments are
# added to `mockserver serve` (e.g. --watch). exec: mockserver is PID 1 and gets SIGTERM itself.
ENTRYPOINT ["/bin/sh", "-c", "for f in /scenarios/*.yaml /scenarios/*.yml /scenarios/*.json; do if [ -f \"$f\" ]; then set -- /scenarios \"$@\"; break; fi; done; exec mockserver serve \"$@\"", "mockserver"]
CMD []
