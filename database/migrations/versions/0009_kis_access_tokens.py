"""kis access tokens

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import signalhub.models.base

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table('kis_access_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('env', sa.String(length=8), nullable=False),
    sa.Column('token_encrypted', sa.Text(), nullable=True),
    sa.Column('expires_at', signalhub.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('issued_at', signalhub.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('next_issue_at', signalhub.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('lock_owner', sa.String(length=64), nullable=True),
    sa.Column('lock_until', signalhub.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', signalhub.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', signalhub.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kis_access_tokens')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_kis_access_tokens_key_hash'))
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table('kis_access_tokens')
