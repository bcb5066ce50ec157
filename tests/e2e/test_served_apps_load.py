"""What building a served app imports: never the migration tools (workers never migrate)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize("module", ["auth_service", "content_service"])
def test_a_served_app_leaves_flask_migrate_and_alembic_unloaded(
    module: str, tmp_path: Path
) -> None:
    """Flask-Migrate and alembic cost about 12 MiB in each worker: `flask db` loads them."""
    settings = {
        "APP_ENV": "testing",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'served.sqlite3'}",
        "JWT_KEYS_DIR": str(tmp_path / "keys"),  # auth's; content ignores it
    }
    program = (
        f"import sys; from {module} import create_app; create_app({settings!r}); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'flask_migrate')))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True, timeout=60
    )
    assert loaded.stdout.strip() == "[]", loaded.stdout
