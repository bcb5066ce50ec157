"""ids never reused

SQLite hands out max(id) + 1, so after the newest post or item was deleted its id (and URL)
came back as another resource. With AUTOINCREMENT it never does. The tables are rebuilt
with the keyword; rows, ids and indexes are kept. PostgreSQL's sequences never go back:
nothing to do there.

Revision ID: e41b7c9d2f63
Revises: c41d7e2f9a10
Create Date: 2026-12-04 15:20:00

"""

from alembic import op


revision = "e41b7c9d2f63"
down_revision = "c41d7e2f9a10"
branch_labels = None
depends_on = None

TABLES = ("posts", "items")


def _rebuild(autoincrement):
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in TABLES:
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
        ):
            pass


def upgrade():
    _rebuild(True)


def downgrade():
    _rebuild(False)
