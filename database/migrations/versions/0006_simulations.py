"""simulations

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import signalhub.models.base

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table('simulations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('strategy', sa.String(length=64), nullable=False),
    sa.Column('request', sa.JSON(), nullable=False),
    sa.Column('results', sa.JSON(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('started_at', signalhub.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', signalhub.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', signalhub.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', signalhub.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_simulations_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_simulations'))
    )
    with op.batch_alter_table('simulations', schema=None) as batch_op:
        batch_op.create_index('ix_simulations_user_created', ['user_id', 'created_at'], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table('simulations', schema=None) as batch_op:
        batch_op.drop_index('ix_simulations_user_created')

    op.drop_table('simulations')
