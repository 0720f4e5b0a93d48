"""portfolio

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import signalhub.models.base

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table('portfolio_transactions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('ticker', sa.String(length=32), nullable=False),
    sa.Column('side', sa.Enum('BUY', 'SELL', name='trade_side', native_enum=False, length=4), nullable=False),
    sa.Column('quantity', sa.Numeric(precision=24, scale=8), nullable=False),
    sa.Column('price', sa.Numeric(precision=20, scale=6), nullable=False),
    sa.Column('fees', sa.Numeric(precision=20, scale=6), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('executed_at', signalhub.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('source', sa.Enum('manual', 'paper', 'kis_paper', 'kis_real', name='trade_source', native_enum=False,
                                length=16), nullable=False),
    sa.Column('external_ref', sa.String(length=64), nullable=True),
    sa.Column('realised_pnl', sa.Numeric(precision=28, scale=8), nullable=True),
    sa.Column('created_at', signalhub.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_portfolio_transactions_quantity_positive')),
    sa.CheckConstraint('price > 0', name=op.f('ck_portfolio_transactions_price_positive')),
    sa.CheckConstraint('fees >= 0', name=op.f('ck_portfolio_transactions_fees_not_negative')),
    sa.CheckConstraint("side IN ('BUY', 'SELL')", name=op.f('ck_portfolio_transactions_side_valid')),
    sa.CheckConstraint("source IN ('manual', 'paper', 'kis_paper', 'kis_real')",
                       name=op.f('ck_portfolio_transactions_source_valid')),
    sa.ForeignKeyConstraint(['ticker'], ['stocks.ticker'], name=op.f('fk_portfolio_transactions_ticker_stocks'),
                            ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_portfolio_transactions_user_id_users'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_portfolio_transactions')),
    sa.UniqueConstraint('user_id', 'source', 'external_ref',
                        name=op.f('uq_portfolio_transactions_user_id_source_external_ref'))
    )
    with op.batch_alter_table('portfolio_transactions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_portfolio_transactions_user_id'), ['user_id'], unique=False)
        batch_op.create_index('ix_portfolio_transactions_ledger', ['user_id', 'ticker', 'source', 'executed_at'],
                              unique=False)


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table('portfolio_transactions', schema=None) as batch_op:
        batch_op.drop_index('ix_portfolio_transactions_ledger')
        batch_op.drop_index(batch_op.f('ix_portfolio_transactions_user_id'))

    op.drop_table('portfolio_transactions')
