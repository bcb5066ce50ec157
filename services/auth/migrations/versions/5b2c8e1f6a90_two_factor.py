"""two-factor login: TOTP columns on accounts and single-use recovery codes

Revision ID: 5b2c8e1f6a90
Revises: 9d4e1b7a3c52
Create Date: 2026-12-04 16:10:00

"""

from alembic import op
import sqlalchemy as sa


revision = "5b2c8e1f6a90"
down_revision = "9d4e1b7a3c52"
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMNs: a batch copy on SQLite would drop the table's AUTOINCREMENT.
    op.add_column("accounts", sa.Column("totp_secret", sa.String(length=255), nullable=True))
    op.add_column(
        "accounts",
        sa.Column("totp_enabled", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("accounts", sa.Column("totp_last_step", sa.Integer(), nullable=True))
    op.create_table(
        "recovery_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_recovery_codes_account_id", "recovery_codes", ["account_id"])


def downgrade():
    op.drop_index("ix_recovery_codes_account_id", table_name="recovery_codes")
    op.drop_table("recovery_codes")
    with op.batch_alter_table(
        "accounts", recreate="auto", table_kwargs={"sqlite_autoincrement": True}
    ) as batch:
        batch.drop_column("totp_last_step")
        batch.drop_column("totp_enabled")
        batch.drop_column("totp_secret")
