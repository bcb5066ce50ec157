"""`make up` runs each service under the gunicorn worker its image runs it under.

The worker is named twice, for two ways of starting a service: in the service's Dockerfile
(`GUNICORN_WORKER_CLASS`, or deploy/gunicorn.conf.py's gthread when unset) and in devstack's
table of services. This keeps the two from drifting apart.
"""

from __future__ import annotations

import re

import pytest
from conftest import ROOT, devstack

CONF_DEFAULT = re.compile(r'"GUNICORN_WORKER_CLASS", "([^"]+)"')
IMAGE_SETTING = re.compile(r"\bGUNICORN_WORKER_CLASS=(\S+)")


def image_worker(service: str) -> str:
    dockerfile = (ROOT / "services" / service / "Dockerfile").read_text()
    found = IMAGE_SETTING.search(dockerfile)
    if found:
        return found.group(1)
    default = CONF_DEFAULT.search((ROOT / "deploy" / "gunicorn.conf.py").read_text())
    assert default is not None, "deploy/gunicorn.conf.py no longer names its default worker"
    return default.group(1)


@pytest.mark.parametrize("service", devstack.SERVICES, ids=lambda s: s.name)
def test_make_up_runs_the_worker_the_image_runs(service) -> None:
    assert service.worker == image_worker(service.name)
