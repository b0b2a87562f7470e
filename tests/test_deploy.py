"""The deployment files: docker-compose.yaml must pass `docker compose config` (no engine needed)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent


def compose_command() -> list[str]:
    """Compose v2 (`docker compose`) where the plugin is installed, else Debian's `docker-compose`."""
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    pytest.fail("neither `docker compose` nor `docker-compose` is installed: scripts/test.sh installs docker-compose")


def test_compose_file_is_valid_and_gates_nginx_on_the_sidecar():
    run = subprocess.run([*compose_command(), "config"], cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    doc = yaml.safe_load(run.stdout)
    nginx, sidecar = doc["services"]["nginx"], doc["services"]["sidecar"]
    assert nginx["depends_on"]["sidecar"]["condition"] == "service_healthy"
    assert "healthcheck" in sidecar
    assert any(str(v).endswith(":/app/data") or "/app/data" in str(v) for v in sidecar["volumes"])


def test_nginx_and_the_sidecar_share_the_stats_spool():
    """nginx appends the lines the sidecar reads: the directory the sidecar renders must be nginx's too."""
    run = subprocess.run([*compose_command(), "config"], cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    doc = yaml.safe_load(run.stdout)
    nginx, sidecar = doc["services"]["nginx"], doc["services"]["sidecar"]
    spool = sidecar["environment"]["LMGATE_STATS__SPOOL_DIR"]

    def mounted(service: dict) -> set[tuple[str, str]]:
        """(named volume, path) pairs; compose v1 prints "source:target:mode", v2 a mapping."""
        pairs = set()
        for v in service["volumes"]:
            if isinstance(v, str):
                source, target = v.split(":")[:2]
                if not source.startswith(("/", ".")):
                    pairs.add((source, target))
            elif v["type"] == "volume":
                pairs.add((v["source"], v["target"]))
        return pairs

    shared = {source for source, target in mounted(nginx) & mounted(sidecar) if target == spool}
    assert shared, f"{spool} is not one volume in both services"
    assert doc["volumes"][shared.pop()]["driver_opts"]["type"] == "tmpfs"


def test_compose_nginx_logs_through_the_mounted_masking_filter_and_the_sidecar_is_supervised():
    """nginx's error lines quote request lines (a ?key= whole): its stderr goes through nginx/logmask.pl."""
    run = subprocess.run([*compose_command(), "config"], cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    nginx = yaml.safe_load(run.stdout)["services"]["nginx"]
    script = next(part for part in nginx["command"] if "logmask.pl" in part)
    assert "exec nginx " in script and "2> >(exec perl /app/nginx/logmask.pl" in script
    mounts = [v if isinstance(v, str) else f"{v['source']}:{v['target']}" for v in nginx["volumes"]]
    assert any(m.split(":")[0].endswith("/nginx") and m.split(":")[1] == "/app/nginx" for m in mounts), mounts
    assert 'CMD ["lmgate", "up", "--without-nginx"]' in (REPO / "Dockerfile").read_text()


def test_the_systemd_unit_runs_the_supervisor_and_stops_it_first():
    import configparser

    unit = configparser.ConfigParser(interpolation=None, strict=False)
    unit.read(REPO / "config" / "lmgate.service")
    service = unit["Service"]
    assert service["ExecStart"].endswith("/.venv/bin/lmgate up")
    # SIGTERM to lmgate up only (it stops nginx gracefully, then the sidecar flushes); SIGKILL for leftovers
    assert (service["KillMode"], service["KillSignal"], service["Restart"]) == ("mixed", "SIGTERM", "on-failure")
    assert unit["Install"]["WantedBy"] == "multi-user.target"


PROFILES = {"prometheus": ["monitoring"], "grafana": ["monitoring"], "postgres": ["postgres"]}


def test_postgres_profile_adds_a_usage_store_the_sidecar_can_be_pointed_at():
    run = subprocess.run(
        [*compose_command(), "--profile", "postgres", "config"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "LMGATE_ROLLUPS_STORE": "postgresql://lmgate@postgres/lmgate"},
    )
    assert run.returncode == 0, run.stderr
    services = yaml.safe_load(run.stdout)["services"]
    assert services["postgres"]["environment"]["POSTGRES_DB"] == "lmgate"
    assert "ports" not in services["postgres"]
    assert services["sidecar"]["environment"]["LMGATE_ROLLUPS__STORE"] == "postgresql://lmgate@postgres/lmgate"


def test_monitoring_profile_adds_prometheus_and_grafana_with_the_repos_files():
    plain = subprocess.run([*compose_command(), "config"], cwd=REPO, capture_output=True, text=True)
    assert plain.returncode == 0, plain.stderr
    # monitoring stays off unless asked for (compose v2 leaves its services out here, v1 lists them with profiles)
    for name, service in yaml.safe_load(plain.stdout)["services"].items():
        assert service.get("profiles", []) == PROFILES.get(name, []), name
    run = subprocess.run(
        [*compose_command(), "--profile", "monitoring", "config"], cwd=REPO, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    services = yaml.safe_load(run.stdout)["services"]
    prometheus, grafana = services["prometheus"], services["grafana"]
    # Prometheus reaches the sidecar's 127.0.0.1:8081 as nginx does: in the sidecar's network namespace
    assert prometheus["network_mode"] == "service:sidecar"
    assert prometheus["depends_on"]["sidecar"]["condition"] == "service_healthy"
    scrape = yaml.safe_load((REPO / "monitoring/prometheus/prometheus.yml").read_text())
    assert scrape["scrape_configs"][0]["static_configs"][0]["targets"] == ["127.0.0.1:8081"]
    for service in (prometheus, grafana):
        for v in service["volumes"]:
            source = v.split(":")[0] if isinstance(v, str) else v["source"]
            if source.startswith(("/", ".")):
                assert Path(source).exists() or (REPO / source).exists(), source
    datasource = yaml.safe_load((REPO / "monitoring/grafana/provisioning/datasources/lmgate.yml").read_text())
    assert datasource["datasources"][0]["url"] == "http://sidecar:9090"
