"""row count deltas

Writers record their change to a table's total as a row of its own, folded into
row_counts now and then, instead of updating the one row_counts row (whose lock made
concurrent creates on PostgreSQL wait for each other).

Revision ID: c41d7e2f9a10
Revises: a3568aa457e2
Create Date: 2026-12-04 15:20:00

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "c41d7e2f9a10"
down_revision = "a3568aa457e2"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "row_count_deltas",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("table_name", sa.String(length=40), nullable=False),
        sa.Column("delta", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("row_count_deltas", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_row_count_deltas_table_name"), ["table_name"], unique=False
        )


def downgrade():
    # Pending deltas are folded in first, so the totals stay exact.
    op.execute(
        "UPDATE row_counts SET total = total + COALESCE((SELECT SUM(delta) FROM "
        "row_count_deltas WHERE row_count_deltas.table_name = row_counts.table_name), 0)"
    )
    with op.batch_alter_table("row_count_deltas", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_row_count_deltas_table_name"))
    op.drop_table("row_count_deltas")
