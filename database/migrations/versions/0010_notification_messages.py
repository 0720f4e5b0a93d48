"""notification messages: content stored once and shared; a redundant delivery index dropped

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import signalhub.models.base

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Existing notifications each get their own message, keyed by the notification's id.
_OLD_KEY = "'notification:' || CAST(notifications.id AS VARCHAR)"


def upgrade() -> None:
    """Apply this revision."""
    op.create_table('notification_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=250), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('created_at', signalhub.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_messages')),
    sa.UniqueConstraint('key', name=op.f('uq_notification_messages_key'))
    )
    op.execute("INSERT INTO notification_messages (key, title, body, data, created_at) "  # noqa: S608 - constants
               f"SELECT {_OLD_KEY}, title, body, data, created_at FROM notifications")
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('message_id', sa.Integer(), nullable=True))
    op.execute("UPDATE notifications SET message_id = (SELECT m.id FROM notification_messages m "  # noqa: S608
               f"WHERE m.key = {_OLD_KEY})")
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.alter_column('message_id', existing_type=sa.Integer(), nullable=False)
        batch_op.create_foreign_key(batch_op.f('fk_notifications_message_id_notification_messages'),
                                    'notification_messages', ['message_id'], ['id'])
        batch_op.drop_column('data')
        batch_op.drop_column('body')
        batch_op.drop_column('title')
    # Redundant: the unique (notification_id, channel_id) index leads with notification_id.
    with op.batch_alter_table('notification_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_notification_deliveries_notification_id')


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table('notification_deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_notification_deliveries_notification_id', ['notification_id'], unique=False)
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('title', sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column('body', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('data', sa.JSON(), nullable=True))
    for column in ('title', 'body', 'data'):
        op.execute(f"UPDATE notifications SET {column} = (SELECT m.{column} FROM notification_messages m "  # noqa: S608
                   "WHERE m.id = notifications.message_id)")
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_notifications_message_id_notification_messages'),
                                 type_='foreignkey')
        batch_op.drop_column('message_id')
        batch_op.alter_column('title', existing_type=sa.String(length=300), nullable=False)
        batch_op.alter_column('body', existing_type=sa.Text(), nullable=False)
        batch_op.alter_column('data', existing_type=sa.JSON(), nullable=False)
    op.drop_table('notification_messages')
