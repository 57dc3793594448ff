"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-27 10:52:30.459378
"""
from alembic import op
import sqlalchemy as sa
import stws.db.models


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('brands',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('host_header', sa.String(length=255), nullable=False),
    sa.Column('is_default', sa.Boolean(), nullable=False),
    sa.Column('date_created_utc', stws.db.models.UtcDateTime(), nullable=False),
    sa.Column('is_deleted', sa.Boolean(), nullable=False),
    sa.Column('date_deleted_utc', stws.db.models.UtcDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_brands'))
    )
    op.create_table('comment_types',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('english_name', sa.String(length=50), nullable=False),
    sa.Column('display_name', sa.String(length=100), nullable=False),
    sa.Column('include_in_search', sa.Boolean(), nullable=False),
    sa.Column('show_inline', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_comment_types')),
    sa.UniqueConstraint('english_name', name=op.f('uq_comment_types_english_name'))
    )
    op.create_table('custom_fields',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('data_type', sa.String(length=20), nullable=False),
    sa.Column('default_value', sa.Text(), nullable=False),
    sa.Column('options', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_custom_fields')),
    sa.UniqueConstraint('display_name', name=op.f('uq_custom_fields_display_name'))
    )
    op.create_table('custom_templates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_custom_templates')),
    sa.UniqueConstraint('name', name=op.f('uq_custom_templates_name'))
    )
    op.create_table('roles',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('description', sa.String(length=500), nullable=False),
    sa.Column('category', sa.String(length=20), nullable=False),
    sa.Column('display_order', sa.Integer(), nullable=False),
    sa.Column('is_custom', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_roles')),
    sa.UniqueConstraint('name', name=op.f('uq_roles_name'))
    )
    op.create_table('ticket_priorities',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('name', sa.String(length=50), nullable=False),
    sa.Column('sort_order', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_priorities')),
    sa.UniqueConstraint('name', name=op.f('uq_ticket_priorities_name'))
    )
    op.create_table('ticket_statuses',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('english_name', sa.String(length=50), nullable=False),
    sa.Column('display_name', sa.String(length=100), nullable=False),
    sa.Column('sort_order', sa.Integer(), nullable=False),
    sa.Column('is_open', sa.Boolean(), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('is_locked', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_statuses')),
    sa.UniqueConstraint('english_name', name=op.f('uq_ticket_statuses_english_name'))
    )
    op.create_table('time_log_categories',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_time_log_categories')),
    sa.UniqueConstraint('name', name=op.f('uq_time_log_categories_name'))
    )
    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=200), nullable=False),
    sa.Column('username_key', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('auth_method', sa.String(length=30), nullable=False),
    sa.Column('auth_domain', sa.String(length=200), nullable=False),
    sa.Column('is_email_verified', sa.Boolean(), nullable=False),
    sa.Column('time_zone', sa.String(length=64), nullable=False),
    sa.Column('is_locked_out', sa.Boolean(), nullable=False),
    sa.Column('force_password_change', sa.Boolean(), nullable=False),
    sa.Column('security_stamp', sa.String(length=32), nullable=False),
    sa.Column('failed_login_count', sa.Integer(), nullable=False),
    sa.Column('failed_login_window_start_utc', stws.db.models.UtcDateTime(), nullable=True),
    sa.Column('lockout_until_utc', stws.db.models.UtcDateTime(), nullable=True),
    sa.Column('signature', sa.Text(), nullable=False),
    sa.Column('is_primary_admin', sa.Boolean(), nullable=False),
    sa.Column('is_active_agent', sa.Boolean(), nullable=False),
    sa.Column('last_heartbeat_utc', stws.db.models.UtcDateTime(), nullable=True),
    sa.Column('date_created_utc', stws.db.models.UtcDateTime(), nullable=False),
    sa.Column('date_last_login_utc', stws.db.models.UtcDateTime(), nullable=True),
    sa.Column('is_deleted', sa.Boolean(), nullable=False),
    sa.Column('date_deleted_utc', stws.db.models.UtcDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('username_key', name=op.f('uq_users_username_key'))
    )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_users_email'), ['email'], unique=False)

    op.create_table('custom_template_fields',
    sa.Column('template_id', sa.Integer(), nullable=False),
    sa.Column('field_id', sa.Integer(), nullable=False),
    sa.Column('sort_order', sa.Integer(), nullable=False),
    sa.Column('is_visible_to_users', sa.Boolean(), nullable=False),
    sa.Column('is_visible_to_agents', sa.Boolean(), nullable=False),
    sa.Column('is_required_by_users', sa.Boolean(), nullable=False),
    sa.Column('is_required_by_agents', sa.Boolean(), nullable=False),
    sa.Column('is_required_by_agents_to_close', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['field_id'], ['custom_fields.id'], name=op.f('fk_custom_template_fields_field_id_custom_fields'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['template_id'], ['custom_templates.id'], name=op.f('fk_custom_template_fields_template_id_custom_templates'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('template_id', 'field_id', name=op.f('pk_custom_template_fields'))
    )
    op.create_table('departments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('email_address', sa.String(length=320), nullable=False),
    sa.Column('is_internal', sa.Boolean(), nullable=False),
    sa.Column('front_line_group_id', sa.Integer(), nullable=True),
    sa.Column('auto_close_enabled', sa.Boolean(), nullable=False),
    sa.Column('auto_close_hours', sa.Integer(), nullable=False),
    sa.Column('auto_close_send_email', sa.Boolean(), nullable=False),
    sa.Column('auto_lock_enabled', sa.Boolean(), nullable=False),
    sa.Column('auto_lock_hours', sa.Integer(), nullable=False),
    sa.Column('auto_delete_enabled', sa.Boolean(), nullable=False),
    sa.Column('auto_delete_days', sa.Integer(), nullable=False),
    sa.Column('auto_delete_call_log_enabled', sa.Boolean(), nullable=False),
    sa.Column('auto_delete_call_log_days', sa.Integer(), nullable=False),
    sa.Column('auto_responder_enabled', sa.Boolean(), nullable=False),
    sa.Column('auto_responder_subject', sa.String(length=500), nullable=False),
    sa.Column('auto_responder_body', sa.Text(), nullable=False),
    sa.Column('ticket_custom_template_id', sa.Integer(), nullable=True),
    sa.Column('date_created_utc', stws.db.models.UtcDateTime(), nullable=False),
    sa.Column('is_deleted', sa.Boolean(), nullable=False),
    sa.Column('date_deleted_utc', stws.db.models.UtcDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_departments_brand_id_brands')),
    sa.ForeignKeyConstraint(['ticket_custom_template_id'], ['custom_templates.id'], name=op.f('fk_departments_ticket_custom_template_id_custom_templates')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_departments'))
    )
    with op.batch_alter_table('departments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_departments_brand_id'), ['brand_id'], unique=False)

    op.create_table('user_roles',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('role_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['role_id'], ['roles.id'], name=op.f('fk_user_roles_role_id_roles'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_user_roles_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'role_id', name=op.f('pk_user_roles'))
    )
    op.create_table('groups',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.String(length=1000), nullable=False),
    sa.Column('is_internal', sa.Boolean(), nullable=False),
    sa.Column('date_created_utc', stws.db.models.UtcDateTime(), nullable=False),
    sa.Column('is_deleted', sa.Boolean(), nullable=False),
    sa.Column('date_deleted_utc', stws.db.models.UtcDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['department_id'], ['departments.id'], name=op.f('fk_groups_department_id_departments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_groups'))
    )
    with op.batch_alter_table('groups', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_groups_department_id'), ['department_id'], unique=False)

    # departments <-> groups is a cycle (use_alter=True in the model): the
    # department's front-line group can only be referenced once groups exists.
    # create_table silently drops use_alter constraints on PostgreSQL, so the
    # key is added here explicitly (batch mode rebuilds the table on SQLite).
    with op.batch_alter_table('departments', schema=None) as batch_op:
        batch_op.create_foreign_key('fk_departments_front_line_group', 'groups', ['front_line_group_id'], ['id'])

    op.create_table('call_logs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_number', sa.String(length=32), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=False),
    sa.Column('customer_user_id', sa.Integer(), nullable=True),
    sa.Column('customer_name', sa.String(length=200), nullable=False),
    sa.Column('customer_phone', sa.String(length=64), nullable=False),
    sa.Column('customer_email', sa.String(length=320), nullable=False),
    sa.Column('subject', sa.String(length=1000), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('is_outgoing', sa.Boolean(), nullable=False),
    sa.Column('date_start_utc', stws.db.models.UtcDateTime(), nullable=True),
    sa.Column('date_end_utc', stws.db.models.UtcDateTime(), nullable=True),
    sa.Column('date_created_utc', stws.db.models.UtcDateTime(), nullable=False),
    sa.Column('date_modified_utc', stws.db.models.UtcDateTime(), nullable=False),
    sa.Column('is_deleted', sa.Boolean(), nullable=False),
    sa.Column('date_deleted_utc', stws.db.models.UtcDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['agent_id'], ['users.id'], name=op.f('fk_call_logs_agent_id_users')),
    sa.ForeignKeyConstraint(['customer_user_id'], ['users.id'], name=op.f('fk_call_logs_customer_user_id_users')),
    sa.ForeignKeyConstraint(['department_id'], ['departments.id'], name=op.f('fk_call_logs_department_id_departments')),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'], name=op.f('fk_call_logs_group_id_groups')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_call_logs')),
    sa.UniqueConstraint('call_number', name=op.f('uq_call_logs_call_number'))
    )
    with op.batch_alter_table('call_logs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_call_logs_agent_id'), ['agent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_call_logs_date_created_utc'), ['date_created_utc'], unique=False)
        batch_op.create_index(batch_op.f('ix_call_logs_group_id'), ['group_id'], unique=False)

    op.create_table('group_agents',
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('distribution_mode', sa.String(length=20), nullable=False),
    sa.Column('max_tickets_enabled', sa.Boolean(), nullable=False),
    sa.Column('max_tickets', sa.Integer(), nullable=False),
    sa.Column('is_receiving', sa.Boolean(), nullable=False),
    sa.Column('last_assigned_utc', stws.db.models.UtcDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'], name=op.f('fk_group_agents_group_id_groups'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_group_agents_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('group_id', 'user_id', name=op.f('pk_group_agents'))
    )
    with op.batch_alter_table('group_agents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_group_agents_user_id'), ['user_id'], unique=False)

    op.create_table('tickets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_number', sa.String(length=32), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=True),
    sa.Column('customer_id', sa.Integer(), nullable=True),
    sa.Column('customer_email', sa.String(length=320), nullable=False),
    sa.Column('subject', sa.String(length=1000), nullable=False),
    sa.Column('status_id', sa.Integer(), nullable=False),
    sa.Column('priority_id', sa.Integer(), nullable=False),
    sa.Column('date_opened_utc', stws.db.models.UtcDateTime(), nullable=False),
    sa.Column('date_first_message_utc', stws.db.models.UtcDateTime(), nullable=True),
    sa.Column('date_closed_utc', stws.db.models.UtcDateTime(), nullable=True),
    sa.Column('idle_start_utc', stws.db.models.UtcDateTime(), nullable=False),
    sa.Column('last_reply_utc', stws.db.models.UtcDateTime(), nullable=True),
    sa.Column('date_modified_utc', stws.db.models.UtcDateTime(), nullable=False),
    sa.Column('reply_count_in', sa.Integer(), nullable=False),
    sa.Column('reply_count_out', sa.Integer(), nullable=False),
    sa.Column('is_spam', sa.Boolean(), nullable=False),
    sa.Column('is_pinned_to_agent', sa.Boolean(), nullable=False),
    sa.Column('requires_follow_up', sa.Boolean(), nullable=False),
    sa.Column('show_in_follow_up_view', sa.Boolean(), nullable=False),
    sa.Column('date_follow_up_utc', stws.db.models.UtcDateTime(), nullable=True),
    sa.Column('follow_up_group_id', sa.Integer(), nullable=True),
    sa.Column('follow_up_agent_id', sa.Integer(), nullable=True),
    sa.Column('follow_up_status_id', sa.Integer(), nullable=True),
    sa.Column('follow_up_pin', sa.Boolean(), nullable=False),
    sa.Column('follow_up_comment_id', sa.Integer(), nullable=True),
    sa.Column('hold_start_assigned_utc', stws.db.models.UtcDateTime(), nullable=True),
    sa.Column('hold_start_compose_utc', stws.db.models.UtcDateTime(), nullable=True),
    sa.Column('hold_start_read_utc', stws.db.models.UtcDateTime(), nullable=True),
    sa.Column('hold_start_pinned_utc', stws.db.models.UtcDateTime(), nullable=True),
    sa.Column('is_indexed', sa.Boolean(), nullable=False),
    sa.Column('is_deleted', sa.Boolean(), nullable=False),
    sa.Column('date_deleted_utc', stws.db.models.UtcDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['agent_id'], ['users.id'], name=op.f('fk_tickets_agent_id_users')),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_tickets_brand_id_brands')),
    sa.ForeignKeyConstraint(['customer_id'], ['users.id'], name=op.f('fk_tickets_customer_id_users')),
    sa.ForeignKeyConstraint(['department_id'], ['departments.id'], name=op.f('fk_tickets_department_id_departments')),
    sa.ForeignKeyConstraint(['follow_up_agent_id'], ['users.id'], name=op.f('fk_tickets_follow_up_agent_id_users')),
    sa.ForeignKeyConstraint(['follow_up_group_id'], ['groups.id'], name=op.f('fk_tickets_follow_up_group_id_groups')),
    sa.ForeignKeyConstraint(['follow_up_status_id'], ['ticket_statuses.id'], name=op.f('fk_tickets_follow_up_status_id_ticket_statuses')),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'], name=op.f('fk_tickets_group_id_groups')),
    sa.ForeignKeyConstraint(['priority_id'], ['ticket_priorities.id'], name=op.f('fk_tickets_priority_id_ticket_priorities')),
    sa.ForeignKeyConstraint(['status_id'], ['ticket_statuses.id'], name=op.f('fk_tickets_status_id_ticket_statuses')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tickets')),
    sa.UniqueConstraint('ticket_number', name=op.f('uq_tickets_ticket_number'))
    )
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.create_index('ix_tickets_agent_status', ['agent_id', 'status_id'], unique=False)
        batch_op.create_index('ix_tickets_customer_email_status', ['customer_email', 'status_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_tickets_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index('ix_tickets_deleted', ['is_deleted', 'date_deleted_utc'], unique=False)
        batch_op.create_index('ix_tickets_department_status', ['department_id', 'status_id'], unique=False)
        batch_op.create_index('ix_tickets_follow_up', ['requires_follow_up', 'date_follow_up_utc'], unique=False)
        batch_op.create_index('ix_tickets_group_status', ['group_id', 'status_id'], unique=False)
        batch_op.create_index('ix_tickets_last_reply', ['last_reply_utc'], unique=False)
        batch_op.create_index('ix_tickets_status_idle', ['status_id', 'idle_start_utc'], unique=False)
        batch_op.create_index('ix_tickets_unindexed', ['is_indexed'], unique=False)

    op.create_table('ticket_comments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('comment_type_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('is_html', sa.Boolean(), nullable=False),
    sa.Column('date_entered_utc', stws.db.models.UtcDateTime(), nullable=False),
    sa.Column('date_modified_utc', stws.db.models.UtcDateTime(), nullable=True),
    sa.Column('is_indexed', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['comment_type_id'], ['comment_types.id'], name=op.f('fk_ticket_comments_comment_type_id_comment_types')),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_ticket_comments_ticket_id_tickets'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_ticket_comments_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_comments'))
    )
    with op.batch_alter_table('ticket_comments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticket_comments_ticket_id'), ['ticket_id'], unique=False)

    op.create_table('ticket_custom_values',
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('field_id', sa.Integer(), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['field_id'], ['custom_fields.id'], name=op.f('fk_ticket_custom_values_field_id_custom_fields'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_ticket_custom_values_ticket_id_tickets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('ticket_id', 'field_id', name=op.f('pk_ticket_custom_values'))
    )
    op.create_table('ticket_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('date_utc', stws.db.models.UtcDateTime(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('user_name', sa.String(length=200), nullable=False),
    sa.Column('event_type', sa.String(length=50), nullable=False),
    sa.Column('description', sa.String(length=1000), nullable=False),
    sa.Column('details', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_ticket_events_ticket_id_tickets'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_ticket_events_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_events'))
    )
    with op.batch_alter_table('ticket_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticket_events_ticket_id'), ['ticket_id'], unique=False)

    op.create_table('ticket_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('linked_ticket_id', sa.Integer(), nullable=True),
    sa.Column('linked_call_log_id', sa.Integer(), nullable=True),
    sa.Column('date_created_utc', stws.db.models.UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['linked_call_log_id'], ['call_logs.id'], name=op.f('fk_ticket_links_linked_call_log_id_call_logs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['linked_ticket_id'], ['tickets.id'], name=op.f('fk_ticket_links_linked_ticket_id_tickets'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_ticket_links_ticket_id_tickets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_links'))
    )
    with op.batch_alter_table('ticket_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticket_links_linked_call_log_id'), ['linked_call_log_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticket_links_linked_ticket_id'), ['linked_ticket_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticket_links_ticket_id'), ['ticket_id'], unique=False)

    op.create_table('ticket_messages',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('direction', sa.Integer(), nullable=False),
    sa.Column('from_user_id', sa.Integer(), nullable=True),
    sa.Column('from_address', sa.String(length=1000), nullable=False),
    sa.Column('to_address', sa.Text(), nullable=False),
    sa.Column('cc_address', sa.Text(), nullable=False),
    sa.Column('subject', sa.String(length=1000), nullable=False),
    sa.Column('body_text', sa.Text(), nullable=False),
    sa.Column('body_html', sa.Text(), nullable=False),
    sa.Column('date_received_utc', stws.db.models.UtcDateTime(), nullable=False),
    sa.Column('message_id_header', sa.String(length=998), nullable=True),
    sa.Column('raw_content_path', sa.String(length=500), nullable=True),
    sa.Column('is_first_message', sa.Boolean(), nullable=False),
    sa.Column('is_draft', sa.Boolean(), nullable=False),
    sa.Column('is_indexed', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['from_user_id'], ['users.id'], name=op.f('fk_ticket_messages_from_user_id_users')),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_ticket_messages_ticket_id_tickets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_messages'))
    )
    with op.batch_alter_table('ticket_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticket_messages_message_id_header'), ['message_id_header'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticket_messages_ticket_id'), ['ticket_id'], unique=False)

    op.create_table('time_logs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.Column('call_log_id', sa.Integer(), nullable=True),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('category_id', sa.Integer(), nullable=True),
    sa.Column('subject', sa.String(length=500), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('date_start_utc', stws.db.models.UtcDateTime(), nullable=False),
    sa.Column('date_end_utc', stws.db.models.UtcDateTime(), nullable=False),
    sa.Column('is_billable', sa.Boolean(), nullable=False),
    sa.Column('is_deleted', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['call_log_id'], ['call_logs.id'], name=op.f('fk_time_logs_call_log_id_call_logs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['category_id'], ['time_log_categories.id'], name=op.f('fk_time_logs_category_id_time_log_categories')),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_time_logs_ticket_id_tickets'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_time_logs_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_time_logs'))
    )
    with op.batch_alter_table('time_logs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_time_logs_call_log_id'), ['call_log_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_time_logs_ticket_id'), ['ticket_id'], unique=False)

    op.create_table('ticket_attachments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('file_name_original', sa.String(length=500), nullable=False),
    sa.Column('file_name_on_disk', sa.String(length=500), nullable=False),
    sa.Column('expected_length', sa.BigInteger(), nullable=False),
    sa.Column('length', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('date_created_utc', stws.db.models.UtcDateTime(), nullable=False),
    sa.Column('is_deleted', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['message_id'], ['ticket_messages.id'], name=op.f('fk_ticket_attachments_message_id_ticket_messages'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_ticket_attachments_ticket_id_tickets'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_ticket_attachments_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_attachments'))
    )
    with op.batch_alter_table('ticket_attachments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticket_attachments_ticket_id'), ['ticket_id'], unique=False)



def downgrade() -> None:
    # Break the departments <-> groups cycle first, so that groups can be dropped.
    with op.batch_alter_table('departments', schema=None) as batch_op:
        batch_op.drop_constraint('fk_departments_front_line_group', type_='foreignkey')

    with op.batch_alter_table('ticket_attachments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticket_attachments_ticket_id'))

    op.drop_table('ticket_attachments')
    with op.batch_alter_table('time_logs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_time_logs_ticket_id'))
        batch_op.drop_index(batch_op.f('ix_time_logs_call_log_id'))

    op.drop_table('time_logs')
    with op.batch_alter_table('ticket_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticket_messages_ticket_id'))
        batch_op.drop_index(batch_op.f('ix_ticket_messages_message_id_header'))

    op.drop_table('ticket_messages')
    with op.batch_alter_table('ticket_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticket_links_ticket_id'))
        batch_op.drop_index(batch_op.f('ix_ticket_links_linked_ticket_id'))
        batch_op.drop_index(batch_op.f('ix_ticket_links_linked_call_log_id'))

    op.drop_table('ticket_links')
    with op.batch_alter_table('ticket_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticket_events_ticket_id'))

    op.drop_table('ticket_events')
    op.drop_table('ticket_custom_values')
    with op.batch_alter_table('ticket_comments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticket_comments_ticket_id'))

    op.drop_table('ticket_comments')
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_tickets_unindexed')
        batch_op.drop_index('ix_tickets_status_idle')
        batch_op.drop_index('ix_tickets_last_reply')
        batch_op.drop_index('ix_tickets_group_status')
        batch_op.drop_index('ix_tickets_follow_up')
        batch_op.drop_index('ix_tickets_department_status')
        batch_op.drop_index('ix_tickets_deleted')
        batch_op.drop_index(batch_op.f('ix_tickets_customer_id'))
        batch_op.drop_index('ix_tickets_customer_email_status')
        batch_op.drop_index('ix_tickets_agent_status')

    op.drop_table('tickets')
    with op.batch_alter_table('group_agents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_group_agents_user_id'))

    op.drop_table('group_agents')
    with op.batch_alter_table('call_logs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_call_logs_group_id'))
        batch_op.drop_index(batch_op.f('ix_call_logs_date_created_utc'))
        batch_op.drop_index(batch_op.f('ix_call_logs_agent_id'))

    op.drop_table('call_logs')
    with op.batch_alter_table('groups', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_groups_department_id'))

    op.drop_table('groups')
    op.drop_table('user_roles')
    with op.batch_alter_table('departments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_departments_brand_id'))

    op.drop_table('departments')
    op.drop_table('custom_template_fields')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_users_email'))

    op.drop_table('users')
    op.drop_table('time_log_categories')
    op.drop_table('ticket_statuses')
    op.drop_table('ticket_priorities')
    op.drop_table('roles')
    op.drop_table('custom_templates')
    op.drop_table('custom_fields')
    op.drop_table('comment_types')
    op.drop_table('brands')
