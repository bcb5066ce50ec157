"""e-mail verification: accounts.email_verified and single-use account tokens

Revision ID: 9d4e1b7a3c52
Revises: 3f8a6c2d9b71
Create Date: 2026-12-04 15:10:00

"""

from alembic import op
import sqlalchemy as sa


revision = "9d4e1b7a3c52"
down_revision = "3f8a6c2d9b71"
branch_labels = None
depends_on = None


def upgrade():
    # A plain ADD COLUMN: a batch copy on SQLite would drop the table's AUTOINCREMENT.
    op.add_column(
        "accounts",
        sa.Column("email_verified", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "account_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_account_tokens_account_id", "account_tokens", ["account_id"])


def downgrade():
    op.drop_index("ix_account_tokens_account_id", table_name="account_tokens")
    op.drop_table("account_tokens")
    with op.batch_alter_table(
        "accounts", recreate="auto", table_kwargs={"sqlite_autoincrement": True}
    ) as batch:
        batch.drop_column("email_verified")
