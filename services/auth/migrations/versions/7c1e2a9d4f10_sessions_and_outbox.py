"""login sessions, the account-event outbox, never-reused account ids

Revision ID: 7c1e2a9d4f10
Revises: b355706c6e35
Create Date: 2026-11-25 13:20:00

"""

from alembic import op
import sqlalchemy as sa


revision = "7c1e2a9d4f10"
down_revision = "b355706c6e35"
branch_labels = None
depends_on = None


def upgrade():
    # SQLite reuses the highest rowid after a delete unless the table is AUTOINCREMENT;
    # an account id must never come back (tokens, revocation marks, content's rows name it).
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table(
            "accounts", recreate="always", table_kwargs={"sqlite_autoincrement": True}
        ):
            pass
    op.create_table(
        "sessions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("current_jti", sa.String(length=32), nullable=False),
        sa.Column("previous_jti", sa.String(length=32), nullable=True),
        sa.Column("rotated_at", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sessions_account_id", "sessions", ["account_id"])
    op.create_table(
        "outbox_events",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.Float(), nullable=False),
        sa.Column("claimed_until", sa.Float(), nullable=True),
        sa.Column("claim_token", sa.String(length=32), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("id"),
    )
    op.create_index("ix_outbox_events_account_id", "outbox_events", ["account_id"])
    op.create_index("ix_outbox_events_next_attempt_at", "outbox_events", ["next_attempt_at"])
    op.create_index("ix_outbox_events_claim_token", "outbox_events", ["claim_token"])


def downgrade():
    op.drop_table("outbox_events")
    op.drop_table("sessions")
