"""Turn deploy/k8s, built through the test overlay, into what podman 4.3's `kube play` can run.

Used by deploy/test-k8s.sh (`make test-k8s`); run with the deploy group's Python
(.venvs/deploy), which has PyYAML.

    kube_play.py secrets TEMPLATE VALUES [KEYS_DIR]  the Secret templates filled in, on stdout
    kube_play.py split MANIFESTS OUT_DIR             what podman plays, one file per step

`secrets`: every empty value of TEMPLATE (deploy/k8s/secrets.example.yaml) becomes a random
secret, as its comments say, but for the names VALUES (a KEY=VALUE file: database URLs, Redis,
mail) gives; KEYS_DIR's files fill the auth-jwt-keys Secret.

`split` reads `kubectl kustomize` output and writes into OUT_DIR:
  secrets/<name>.json   each Secret as podman 4.3 reads a secretRef: a JSON object of base64
                        values (a Secret played from YAML is stored as YAML, which its
                        envFrom cannot parse), for `podman secret create <name> <file>`
  jobs/<name>.yaml      each Job's pod template as a Pod (restartPolicy Never) with the
                        ConfigMaps: podman 4.3 plays no Job
  workloads.yaml        the ConfigMaps and the Deployments, without their `ports` lists: podman
                        4.3 publishes every containerPort, which the host network refuses
                        ("PortMappings can only be used with Bridge or slirp4netns"); the
                        probes that name a port get its number instead
  probes.tsv            deployment, probe, path and port (named ports resolved) per probe
  volumes.txt           the podman volumes the pods' emptyDir and Secret volumes become
Podman 4.3 makes a pod's emptyDir into a podman volume named as the pod names it, shared by
every pod that uses the same name: the three services' `tmp` would be one directory, where
their metrics files (/tmp/suite-prometheus-<pid 1>) collide. Each emptyDir is renamed
<workload>-<name> here, private to its pod as in Kubernetes.
and prints, one per line, the objects podman cannot run (Namespace, Service, HPA, Ingress...).
"""

from __future__ import annotations

import base64
import json
import secrets
import sys
from pathlib import Path
from typing import Any

import yaml

PLAYED = {"ConfigMap", "Deployment", "Job", "Secret"}


def fill_secrets(template: Path, values_file: Path, keys_dir: Path | None) -> str:
    values = dict(
        line.split("=", 1) for line in values_file.read_text().splitlines() if "=" in line
    )
    docs = [d for d in yaml.safe_load_all(template.read_text()) if d]
    for doc in docs:
        data = doc.setdefault("stringData", {})
        for key, value in data.items():
            if key in values:
                data[key] = values[key]
            elif value == "":
                data[key] = secrets.token_hex(32)
        if doc["metadata"]["name"] == "auth-jwt-keys" and keys_dir is not None:
            for key_file in sorted(keys_dir.iterdir()):
                data[key_file.name] = key_file.read_text()
    missing = set(values) - {k for d in docs for k in d["stringData"]}
    if missing:
        raise SystemExit(f"kube_play.py: no Secret has {sorted(missing)}")
    return yaml.safe_dump_all(docs, sort_keys=False)


def secret_json(secret: dict[str, Any]) -> str:
    data = dict(secret.get("data") or {})
    for key, value in (secret.get("stringData") or {}).items():
        data[key] = base64.b64encode(str(value).encode()).decode()
    return json.dumps(data)


def job_as_pod(job: dict[str, Any]) -> dict[str, Any]:
    template = job["spec"]["template"]
    spec = template["spec"]
    if spec.get("restartPolicy") != "Never":
        raise SystemExit(f"kube_play.py: Job {job['metadata']['name']} must not restart its pod")
    metadata = {"name": job["metadata"]["name"], "labels": template["metadata"].get("labels", {})}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def private_empty_dirs(owner: str, pod: dict[str, Any]) -> None:
    renamed = {}
    for volume in pod.get("volumes", []):
        if "emptyDir" in volume:
            renamed[volume["name"]] = volume["name"] = f"{owner}-{volume['name']}"
    for container in pod.get("initContainers", []) + pod["containers"]:
        for mount in container.get("volumeMounts", []):
            mount["name"] = renamed.get(mount["name"], mount["name"])


def probes(deployment: dict[str, Any]) -> list[str]:
    """The probes' paths and ports; drops the containers' `ports`, naming ports by number."""
    rows = []
    for container in deployment["spec"]["template"]["spec"]["containers"]:
        ports = {p.get("name"): p["containerPort"] for p in container.pop("ports", [])}
        for probe in ("readinessProbe", "livenessProbe"):
            get = container.get(probe, {}).get("httpGet")
            if get:
                get["port"] = ports.get(get["port"], get["port"])
                name = deployment["metadata"]["name"]
                rows.append(f"{name}\t{probe}\t{get['path']}\t{get['port']}")
    return rows


def split(manifests: Path, out: Path) -> None:
    docs = [d for d in yaml.safe_load_all(manifests.read_text()) if d]
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], []).append(doc)
    config_maps = by_kind.get("ConfigMap", [])
    (out / "secrets").mkdir(parents=True)
    (out / "jobs").mkdir()
    for secret in by_kind.get("Secret", []):
        path = out / "secrets" / f"{secret['metadata']['name']}.json"
        path.write_text(secret_json(secret))
        path.chmod(0o600)
    pods = [job_as_pod(job) for job in by_kind.get("Job", [])]
    for pod in pods:
        private_empty_dirs(pod["metadata"]["name"], pod["spec"])
        path = out / "jobs" / f"{pod['metadata']['name']}.yaml"
        path.write_text(yaml.safe_dump_all([*config_maps, pod], sort_keys=False))
    deployments = by_kind.get("Deployment", [])
    for deployment in deployments:
        private_empty_dirs(deployment["metadata"]["name"], deployment["spec"]["template"]["spec"])
    probe_rows = [row for d in deployments for row in probes(d)]
    (out / "workloads.yaml").write_text(
        yaml.safe_dump_all([*config_maps, *deployments], sort_keys=False)
    )
    specs = [pod["spec"] for pod in pods] + [d["spec"]["template"]["spec"] for d in deployments]
    volumes = {
        volume["name"]
        for spec in specs
        for volume in spec.get("volumes", [])
        if {"emptyDir", "secret"} & volume.keys()
    }
    (out / "volumes.txt").write_text("".join(f"{v}\n" for v in sorted(volumes)))
    (out / "probes.tsv").write_text("".join(f"{row}\n" for row in probe_rows))
    for doc in docs:
        if doc["kind"] not in PLAYED:
            print(f"{doc['kind']}/{doc['metadata']['name']}")


def main(argv: list[str]) -> int:
    if len(argv) in (3, 4) and argv[0] == "secrets":
        keys_dir = Path(argv[3]) if len(argv) == 4 else None
        sys.stdout.write(fill_secrets(Path(argv[1]), Path(argv[2]), keys_dir))
        return 0
    if len(argv) == 3 and argv[0] == "split":
        split(Path(argv[1]), Path(argv[2]))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
