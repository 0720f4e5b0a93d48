"""broker and orders

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import signalhub.models.base

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table('broker_accounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('environment', sa.String(length=8), nullable=False),
    sa.Column('credentials_encrypted', sa.Text(), nullable=False),
    sa.Column('app_key_hint', sa.String(length=32), nullable=False),
    sa.Column('account_hint', sa.String(length=32), nullable=False),
    sa.Column('hts_id_hint', sa.String(length=32), nullable=False),
    sa.Column('verified_at', signalhub.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', signalhub.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', signalhub.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_broker_accounts_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_broker_accounts')),
    sa.UniqueConstraint('user_id', name=op.f('uq_broker_accounts_user_id'))
    )
    op.create_table('trading_settings',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('opted_in', sa.Boolean(), nullable=False),
    sa.Column('mode', sa.String(length=8), nullable=False),
    sa.Column('kill_switch', sa.Boolean(), nullable=False),
    sa.Column('min_grade', sa.String(length=16), nullable=False),
    sa.Column('tickers', sa.JSON(), nullable=False),
    sa.Column('position_size_pct', sa.Numeric(precision=8, scale=4), nullable=False),
    sa.Column('daily_loss_limit_pct', sa.Numeric(precision=8, scale=4), nullable=False),
    sa.Column('max_symbol_weight_pct', sa.Numeric(precision=8, scale=4), nullable=False),
    sa.Column('max_position_size_pct', sa.Numeric(precision=8, scale=4), nullable=False),
    sa.Column('min_cash_reserve_pct', sa.Numeric(precision=8, scale=4), nullable=False),
    sa.Column('max_orders_per_day', sa.Integer(), nullable=False),
    sa.Column('failures_before_cooldown', sa.Integer(), nullable=False),
    sa.Column('failure_cooldown_minutes', sa.Integer(), nullable=False),
    sa.Column('price_protection_pct', sa.Numeric(precision=8, scale=4), nullable=False),
    sa.Column('day_start_date', sa.Date(), nullable=True),
    sa.Column('day_start_equity', sa.Numeric(precision=24, scale=4), nullable=True),
    sa.Column('created_at', signalhub.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', signalhub.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_trading_settings_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_trading_settings'))
    )
    op.create_table('system_flags',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('reason', sa.String(length=300), nullable=False),
    sa.Column('updated_by', sa.Integer(), nullable=True),
    sa.Column('created_at', signalhub.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', signalhub.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['updated_by'], ['users.id'], name=op.f('fk_system_flags_updated_by_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_system_flags'))
    )
    op.create_table('paper_accounts',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('cash', sa.Numeric(precision=24, scale=6), nullable=False),
    sa.Column('holdings', sa.JSON(), nullable=False),
    sa.Column('created_at', signalhub.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', signalhub.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_paper_accounts_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_paper_accounts'))
    )
    op.create_table('paper_orders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_no', sa.String(length=32), nullable=False),
    sa.Column('client_order_id', sa.String(length=96), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('ticker', sa.String(length=32), nullable=False),
    sa.Column('side', sa.String(length=4), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('limit_price', sa.Numeric(precision=20, scale=6), nullable=True),
    sa.Column('filled_quantity', sa.Integer(), nullable=False),
    sa.Column('avg_price', sa.Numeric(precision=20, scale=6), nullable=True),
    sa.Column('cancelled', sa.Boolean(), nullable=False),
    sa.Column('last_bar_ts', signalhub.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('executions', sa.JSON(), nullable=False),
    sa.Column('created_at', signalhub.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', signalhub.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_paper_orders_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_paper_orders')),
    sa.UniqueConstraint('client_order_id', name=op.f('uq_paper_orders_client_order_id')),
    sa.UniqueConstraint('order_no', name=op.f('uq_paper_orders_order_no'))
    )
    with op.batch_alter_table('paper_orders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_paper_orders_user_id'), ['user_id'], unique=False)
    op.create_table('trading_orders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('client_order_id', sa.String(length=96), nullable=False),
    sa.Column('signal_id', sa.Integer(), nullable=True),
    sa.Column('broker', sa.String(length=16), nullable=False),
    sa.Column('ticker', sa.String(length=32), nullable=False),
    sa.Column('side', sa.String(length=4), nullable=False),
    sa.Column('order_type', sa.String(length=8), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('limit_price', sa.Numeric(precision=20, scale=6), nullable=True),
    sa.Column('reference_price', sa.Numeric(precision=20, scale=6), nullable=True),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('filled_quantity', sa.Integer(), nullable=False),
    sa.Column('avg_fill_price', sa.Numeric(precision=20, scale=6), nullable=True),
    sa.Column('fees', sa.Numeric(precision=24, scale=6), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.Column('claimed_at', signalhub.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('submit_attempts', sa.Integer(), nullable=False),
    sa.Column('outcome_unknown', sa.Boolean(), nullable=False),
    sa.Column('notice_filled_qty', sa.Integer(), nullable=False),
    sa.Column('submitted_at', signalhub.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_at', signalhub.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('broker_order_no', sa.String(length=32), nullable=True),
    sa.Column('broker_org_no', sa.String(length=16), nullable=True),
    sa.Column('broker_status', sa.String(length=32), nullable=True),
    sa.Column('broker_filled_qty', sa.Integer(), nullable=True),
    sa.Column('broker_avg_price', sa.Numeric(precision=20, scale=6), nullable=True),
    sa.Column('broker_ordered_at', signalhub.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('broker_raw', sa.JSON(), nullable=True),
    sa.Column('broker_updated_at', signalhub.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', signalhub.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', signalhub.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("side IN ('BUY', 'SELL')", name=op.f('ck_trading_orders_side_valid')),
    sa.CheckConstraint("state IN ('PENDING', 'SUBMITTED', 'PARTIALLY_FILLED', 'FILLED', 'CANCELLED', 'REJECTED', 'FAILED')", name=op.f('ck_trading_orders_state_valid')),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_trading_orders_quantity_positive')),
    sa.ForeignKeyConstraint(['signal_id'], ['signals.id'], name=op.f('fk_trading_orders_signal_id_signals'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['ticker'], ['stocks.ticker'], name=op.f('fk_trading_orders_ticker_stocks'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_trading_orders_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trading_orders')),
    sa.UniqueConstraint('client_order_id', name=op.f('uq_trading_orders_client_order_id'))
    )
    with op.batch_alter_table('trading_orders', schema=None) as batch_op:
        batch_op.create_index('ix_trading_orders_state', ['state'], unique=False)
    with op.batch_alter_table('trading_orders', schema=None) as batch_op:
        batch_op.create_index('ix_trading_orders_user_created', ['user_id', 'created_at'], unique=False)
    op.create_table('trading_order_fills',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('cumulative_quantity', sa.Integer(), nullable=False),
    sa.Column('price', sa.Numeric(precision=20, scale=6), nullable=False),
    sa.Column('commission', sa.Numeric(precision=20, scale=6), nullable=False),
    sa.Column('tax', sa.Numeric(precision=20, scale=6), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('executed_at', signalhub.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', signalhub.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_trading_order_fills_quantity_positive')),
    sa.ForeignKeyConstraint(['order_id'], ['trading_orders.id'], name=op.f('fk_trading_order_fills_order_id_trading_orders'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_trading_order_fills_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trading_order_fills')),
    sa.UniqueConstraint('order_id', 'cumulative_quantity', name=op.f('uq_trading_order_fills_order_id_cumulative_quantity'))
    )
    with op.batch_alter_table('trading_order_fills', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_trading_order_fills_order_id'), ['order_id'], unique=False)
    with op.batch_alter_table('trading_order_fills', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_trading_order_fills_user_id'), ['user_id'], unique=False)
    op.create_table('risk_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=True),
    sa.Column('signal_id', sa.Integer(), nullable=True),
    sa.Column('client_order_id', sa.String(length=96), nullable=False),
    sa.Column('ticker', sa.String(length=32), nullable=False),
    sa.Column('side', sa.String(length=4), nullable=False),
    sa.Column('rule', sa.String(length=32), nullable=False),
    sa.Column('decision', sa.String(length=8), nullable=False),
    sa.Column('value', sa.Numeric(precision=24, scale=6), nullable=True),
    sa.Column('limit_value', sa.Numeric(precision=24, scale=6), nullable=True),
    sa.Column('message', sa.String(length=300), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('created_at', signalhub.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['trading_orders.id'], name=op.f('fk_risk_events_order_id_trading_orders'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['signal_id'], ['signals.id'], name=op.f('fk_risk_events_signal_id_signals'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_risk_events_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_risk_events'))
    )
    with op.batch_alter_table('risk_events', schema=None) as batch_op:
        batch_op.create_index('ix_risk_events_user_created', ['user_id', 'created_at'], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    # Children first: fills and risk events reference orders.
    op.drop_table('risk_events')
    op.drop_table('trading_order_fills')
    op.drop_table('trading_orders')
    op.drop_table('paper_orders')
    op.drop_table('paper_accounts')
    op.drop_table('system_flags')
    op.drop_table('trading_settings')
    op.drop_table('broker_accounts')
