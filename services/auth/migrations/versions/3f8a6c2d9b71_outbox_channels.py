"""outbox channels: account events for content and mail

Revision ID: 3f8a6c2d9b71
Revises: 7c1e2a9d4f10
Create Date: 2026-12-04 15:00:00

"""

from alembic import op
import sqlalchemy as sa


revision = "3f8a6c2d9b71"
down_revision = "7c1e2a9d4f10"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("outbox_events") as batch:
        batch.add_column(
            sa.Column("channel", sa.String(length=16), nullable=False, server_default="content")
        )
        batch.create_index("ix_outbox_events_channel_due", ["channel", "next_attempt_at"])


def downgrade():
    with op.batch_alter_table("outbox_events") as batch:
        batch.drop_index("ix_outbox_events_channel_due")
        batch.drop_column("channel")
