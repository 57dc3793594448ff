"""mail spool, transfer servers, settings

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 11:23:48.311196
"""
from alembic import op
import sqlalchemy as sa
import stws.db.models


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('settings',
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_settings'))
    )
    op.create_table('transfer_servers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('base_url', sa.String(length=1000), nullable=False),
    sa.Column('username', sa.String(length=200), nullable=False),
    sa.Column('password', sa.String(length=1000), nullable=False),
    sa.Column('is_enabled', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transfer_servers')),
    sa.UniqueConstraint('name', name=op.f('uq_transfer_servers_name'))
    )
    op.create_table('spool_outgoing',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.Column('ticket_message_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('from_address', sa.String(length=1000), nullable=False),
    sa.Column('recipients', sa.Text(), nullable=False),
    sa.Column('subject', sa.String(length=1000), nullable=False),
    sa.Column('message_id_header', sa.String(length=998), nullable=False),
    sa.Column('raw_content', sa.LargeBinary(), nullable=False),
    sa.Column('date_created_utc', stws.db.models.UtcDateTime(), nullable=False),
    sa.Column('next_attempt_utc', stws.db.models.UtcDateTime(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_attempt_utc', stws.db.models.UtcDateTime(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.Column('date_sent_utc', stws.db.models.UtcDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_spool_outgoing_ticket_id_tickets'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['ticket_message_id'], ['ticket_messages.id'], name=op.f('fk_spool_outgoing_ticket_message_id_ticket_messages'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_spool_outgoing'))
    )
    with op.batch_alter_table('spool_outgoing', schema=None) as batch_op:
        batch_op.create_index('ix_spool_outgoing_due', ['status', 'next_attempt_utc'], unique=False)
        batch_op.create_index(batch_op.f('ix_spool_outgoing_message_id_header'), ['message_id_header'], unique=False)
        batch_op.create_index(batch_op.f('ix_spool_outgoing_ticket_id'), ['ticket_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('spool_outgoing', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_spool_outgoing_ticket_id'))
        batch_op.drop_index(batch_op.f('ix_spool_outgoing_message_id_header'))
        batch_op.drop_index('ix_spool_outgoing_due')

    op.drop_table('spool_outgoing')
    op.drop_table('transfer_servers')
    op.drop_table('settings')
