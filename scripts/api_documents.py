"""Write every OpenAPI document the suite serves into a folder, for `make lint-api`.

Auth's and content's documents come from the same functions their /openapi.json views call;
the gateway's is the merge the gateway serves, made from those two by its own merge code.
No server is started.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from auth_service.openapi import openapi_document as auth_document
from content_service.openapi import openapi_document as content_document
from gateway_service.openapi import merge_documents

PREFIXES = {"auth": ["/auth"], "content": ["/api"]}


def documents() -> dict[str, dict[str, Any]]:
    services = {"auth": auth_document(), "content": content_document()}
    return {**services, "gateway": merge_documents(services, PREFIXES, unavailable=[])}


def main(folder: str) -> None:
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    for name, document in documents().items():
        (out / f"{name}.json").write_text(json.dumps(document, indent=2) + "\n")
        print(f"{out / name}.json")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "var/openapi")
