"""signal performance

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import signalhub.models.base

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table('signal_outcomes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('signal_id', sa.Integer(), nullable=False),
    sa.Column('horizon', sa.Integer(), nullable=False),
    sa.Column('base_ts', signalhub.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('base_close', sa.Double(), nullable=False),
    sa.Column('exit_ts', signalhub.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('exit_close', sa.Double(), nullable=False),
    sa.Column('forward_return', sa.Double(), nullable=False),
    sa.Column('signal_return', sa.Double(), nullable=False),
    sa.Column('evaluated_at', signalhub.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['signal_id'], ['signals.id'], name=op.f('fk_signal_outcomes_signal_id_signals'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signal_outcomes')),
    sa.UniqueConstraint('signal_id', 'horizon', name=op.f('uq_signal_outcomes_signal_id_horizon'))
    )
    with op.batch_alter_table('signal_outcomes', schema=None) as batch_op:
        batch_op.create_index('ix_signal_outcomes_horizon_base_ts', ['horizon', 'base_ts'], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table('signal_outcomes', schema=None) as batch_op:
        batch_op.drop_index('ix_signal_outcomes_horizon_base_ts')

    op.drop_table('signal_outcomes')
