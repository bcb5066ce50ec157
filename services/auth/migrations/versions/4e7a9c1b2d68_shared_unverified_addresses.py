"""accounts: one address may be shown by several accounts, verified by one at most

Registration no longer tells anyone whether an address has an account: an address a
verified account holds still makes a new account, one that may never verify it
(email_claimable false). The unique constraint on email becomes a unique index over
verified addresses only (a partial index, on SQLite and PostgreSQL alike).

Revision ID: 4e7a9c1b2d68
Revises: 9d2b6f4e1a37
Create Date: 2026-12-04 21:50:00

"""

from contextlib import contextmanager

from alembic import op
import sqlalchemy as sa


revision = "4e7a9c1b2d68"
down_revision = "9d2b6f4e1a37"
branch_labels = None
depends_on = None

VERIFIED = sa.text("email_verified")


def upgrade():
    op.add_column(
        "accounts",
        sa.Column("email_claimable", sa.Boolean(), nullable=False, server_default=sa.true()),
    )
    if op.get_bind().dialect.name == "sqlite":
        # SQLite drops a constraint only by copying the table; the naming convention names
        # the initial schema's unnamed one, and the copy keeps AUTOINCREMENT.
        with (
            _ids_never_reused(),
            op.batch_alter_table(
                "accounts",
                recreate="always",
                table_kwargs={"sqlite_autoincrement": True},
                naming_convention={"uq": "uq_%(table_name)s_%(column_0_name)s"},
            ) as batch,
        ):
            batch.drop_constraint("uq_accounts_email", type_="unique")
    else:
        op.drop_constraint(_email_constraint(), "accounts", type_="unique")
    op.create_index("ix_accounts_email", "accounts", ["email"])
    op.create_index(
        "uq_accounts_verified_email",
        "accounts",
        ["email"],
        unique=True,
        sqlite_where=VERIFIED,
        postgresql_where=VERIFIED,
    )


@contextmanager
def _ids_never_reused():
    """Keep SQLite's AUTOINCREMENT counter across a table copy (the copy restarts it at
    the highest id left, which would hand a deleted account's id out again)."""
    bind = op.get_bind()
    counter = sa.text("SELECT seq FROM sqlite_sequence WHERE name = 'accounts'")
    before = bind.execute(counter).scalar()
    yield
    if before is not None:
        bind.execute(
            sa.text("UPDATE sqlite_sequence SET seq = max(seq, :before) WHERE name = 'accounts'"),
            {"before": before},
        )
        if bind.execute(counter).scalar() is None:
            bind.execute(
                sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES ('accounts', :before)"),
                {"before": before},
            )


def _email_constraint() -> str:
    """The name PostgreSQL gave the initial schema's unique constraint on email."""
    for constraint in sa.inspect(op.get_bind()).get_unique_constraints("accounts"):
        if constraint["column_names"] == ["email"]:
            return constraint["name"]
    raise RuntimeError("accounts has no unique constraint on email")


def downgrade():
    # Fails while two accounts show one address: delete all but one of them first.
    op.drop_index("uq_accounts_verified_email", table_name="accounts")
    op.drop_index("ix_accounts_email", table_name="accounts")
    if op.get_bind().dialect.name == "sqlite":
        with _ids_never_reused():
            _restore_unique_email()
    else:
        _restore_unique_email()


def _restore_unique_email():
    with op.batch_alter_table(
        "accounts", recreate="auto", table_kwargs={"sqlite_autoincrement": True}
    ) as batch:
        batch.create_unique_constraint("uq_accounts_email", ["email"])
        batch.drop_column("email_claimable")
