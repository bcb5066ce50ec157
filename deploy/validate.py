"""Validate the deployment files without any engine or cluster.

docker-compose.yml is interpolated the way Compose does it, then parsed by compose-spec (a
strict implementation of the Compose specification); the Kubernetes manifests are checked
against the Kubernetes API schemas by kubernetes-validate (offline, strict). On top of the
schemas, the rules this suite relies on: migrations finish before their service, health
checks behind every `service_healthy`, secrets required in production, probes and resource
requests on every Deployment. Run with `make validate-deploy`.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml
from compose_spec import PyCompose

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
COMPOSE_DIR = ROOT / "deploy" / "compose"
K8S_DIR = ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.30.0"
MIGRATING_SERVICES = ("auth", "content")
# What a production stack must be given; none may have a default in docker-compose.yml.
SECRETS = {
    "SECRET_KEY",
    "RELAY_CLIENT_SECRET",
    "TOTP_ENCRYPTION_KEY",
    "AUTH_DB_PASSWORD",
    "CONTENT_DB_PASSWORD",
    "REDIS_PASSWORD",
}
REQUIRED = SECRETS | {"APP_ENV", "AUTH_JWT_KEYS", "ISSUER"}

Errors = list[str]

# --- Compose -------------------------------------------------------------------------------

VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))"
)


def interpolate(value: Any, env: dict[str, str], missing: set[str]) -> Any:
    """Compose's variable substitution over every string of a parsed file."""
    if isinstance(value, dict):
        return {k: interpolate(v, env, missing) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env, missing) for v in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name = match["braced"] or match["plain"]
        op, arg = match["op"], match["arg"] or ""
        current = env.get(name)
        unset_or_empty = not current
        if op in (":-", "-"):
            use_default = unset_or_empty if op == ":-" else current is None
            return arg if use_default else str(current)
        if op in (":?", "?"):
            if unset_or_empty if op == ":?" else current is None:
                missing.add(name)
                return ""
            return str(current)
        if op in (":+", "+"):
            present = not unset_or_empty if op == ":+" else current is not None
            return arg if present else ""
        return current or ""

    return VARIABLE.sub(substitute, value)


def read_env_file(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key.strip()] = value.strip()
    return env


def compose_with(env: dict[str, str]) -> tuple[dict[str, Any], set[str]]:
    missing: set[str] = set()
    raw = yaml.safe_load(COMPOSE_FILE.read_text())  # resolves anchors and `<<` merge keys
    return interpolate(raw, env, missing), missing


def compose_rules(doc: dict[str, Any]) -> Iterator[str]:
    services: dict[str, Any] = doc["services"]
    for name, service in services.items():
        for dependency, rule in (service.get("depends_on") or {}).items():
            if dependency not in services:
                yield f"compose: {name} depends on unknown service {dependency}"
            elif rule.get("condition") == "service_healthy" and dependency not in (
                n for n, s in services.items() if s.get("healthcheck")
            ):
                yield f"compose: {name} waits for {dependency} to be healthy; it has no healthcheck"
    for name in MIGRATING_SERVICES:
        migrate = services.get(f"{name}-migrate", {})
        after = (services.get(name, {}).get("depends_on") or {}).get(f"{name}-migrate", {})
        if after.get("condition") != "service_completed_successfully":
            yield f"compose: {name} must start only after {name}-migrate completed successfully"
        if "db" not in migrate.get("command", []) or migrate.get("restart") != "no":
            yield f"compose: {name}-migrate must be a one-off `flask db upgrade` (restart: no)"
        database = (migrate.get("depends_on") or {}).get(f"{name}-db", {})
        if database.get("condition") != "service_healthy":
            yield f"compose: {name}-migrate must wait for a healthy {name}-db"
    db_volumes = [
        v.split(":")[0] for n, s in services.items() if n.endswith("-db") for v in s["volumes"]
    ]
    if len(db_volumes) != len(set(db_volumes)) or not set(db_volumes) <= set(doc["volumes"]):
        yield f"compose: each database needs a named volume of its own, got {db_volumes}"
    published = sorted(n for n, s in services.items() if s.get("ports"))
    if published != ["gateway"]:
        yield f"compose: only the gateway may publish a port, not {published}"


def check_compose() -> Errors:
    errors: Errors = []
    development = read_env_file(COMPOSE_DIR / "development.env")
    doc, missing = compose_with(development)
    if missing:
        errors.append(f"compose: development.env leaves {sorted(missing)} unset")
    try:
        # The strict parser, then the models generated from the specification's JSON schema.
        PyCompose.from_json(json.dumps(doc)).to_spec()
    except ValueError as exc:
        errors.append(f"compose: not a valid Compose file: {exc}")
    errors.extend(compose_rules(doc))
    # Production: an empty environment, and the filled-in-later example, must both be refused.
    for label, env, required in (
        ("an empty environment", {}, REQUIRED),
        ("production.env.example", read_env_file(COMPOSE_DIR / "production.env.example"), SECRETS),
    ):
        _, missing = compose_with(env)
        if not required <= missing:
            loose = sorted(required - missing)
            errors.append(f"compose: with {label}, {loose} would not be required")
    return errors


# --- Kubernetes ----------------------------------------------------------------------------


def k8s_documents() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in sorted(K8S_DIR.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                yield path, doc


def named(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def deployment_rules(deployment: dict[str, Any]) -> Iterator[str]:
    name = deployment["metadata"]["name"]
    pod = deployment["spec"]["template"]["spec"]
    if not pod.get("securityContext", {}).get("runAsNonRoot"):
        yield f"k8s: Deployment {name} must run as non-root"
    for container in pod["containers"]:
        probes = {
            p: container.get(p, {}).get("httpGet", {}).get("path")
            for p in ("readinessProbe", "livenessProbe")
        }
        if probes["livenessProbe"] != "/healthz" or not probes["readinessProbe"]:
            yield f"k8s: Deployment {name} needs a readiness probe and liveness on /healthz"
        if name != "gateway" and probes["readinessProbe"] != "/readyz":
            yield f"k8s: Deployment {name} must be ready by its own /readyz"
        requests = container.get("resources", {}).get("requests", {})
        if not {"cpu", "memory"} <= set(requests):
            yield f"k8s: Deployment {name} needs cpu and memory requests"


def check_k8s() -> Errors:
    errors: Errors = []
    docs = []
    for path, doc in k8s_documents():
        if doc.get("kind") == "Kustomization":
            listed = {str(r) for r in doc["resources"]}
            wanted = {p.name for p in K8S_DIR.glob("*.yaml")} - {path.name, "secrets.example.yaml"}
            if listed != wanted:
                errors.append(
                    f"k8s: kustomization lists {sorted(listed)}, files are {sorted(wanted)}"
                )
            continue
        docs.append(doc)
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(p) for p in exc.path)
            what = f"{path.name}: {doc['kind']} {doc['metadata']['name']}"
            errors.append(f"k8s: {what}: {where}: {exc.message}")
    deployments = named(docs, "Deployment")
    services = named(docs, "Service")
    for name, deployment in deployments.items():
        errors.extend(deployment_rules(deployment))
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        if not any(s["spec"]["selector"].items() <= labels.items() for s in services.values()):
            errors.append(f"k8s: no Service selects the pods of Deployment {name}")
    jobs = named(docs, "Job")
    for name in MIGRATING_SERVICES:
        command = jobs.get(f"{name}-migrate", {}).get("spec", {}).get("template", {})
        containers = command.get("spec", {}).get("containers", [{}])
        if containers[0].get("command", [])[-2:] != ["db", "upgrade"]:
            errors.append(f"k8s: {name} needs a migration Job {name}-migrate running db upgrade")
    hpas = named(docs, "HorizontalPodAutoscaler")
    for name in ("gateway", "content"):
        target = hpas.get(name, {}).get("spec", {}).get("scaleTargetRef", {}).get("name")
        if target not in deployments:
            errors.append(f"k8s: the HorizontalPodAutoscaler {name} must scale a Deployment")
    for ingress in named(docs, "Ingress").values():
        for rule in ingress["spec"]["rules"]:
            for route in rule["http"]["paths"]:
                if route["backend"]["service"]["name"] not in services:
                    errors.append("k8s: the Ingress routes to a Service that does not exist")
    return errors


CHECKS: dict[str, Callable[[], Errors]] = {
    "docker-compose.yml": check_compose,
    "deploy/k8s": check_k8s,
}


def main() -> int:
    failed = False
    for label, check in CHECKS.items():
        errors = check()
        failed |= bool(errors)
        for error in errors:
            print(f"  FAIL {error}")
        print(f"{label}: {'invalid' if errors else 'valid'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
