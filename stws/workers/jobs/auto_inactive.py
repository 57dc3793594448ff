"""Auto-Inactive: agents whose session sent no heartbeat for the configured time are set inactive and their active tickets handed off.

The configured time: three Heartbeat Intervals (the Diagnostics option
``HeartbeatIntervalSeconds``, default 10 s), but never less than
``MINIMUM_SILENCE`` (60 s), so two missed heartbeats or a short network
hiccup never cost an agent their tickets. There is no option of its own:
SmarterTrack has none either, and tying it to the interval keeps the two
consistent when an administrator changes the interval.

Heartbeats come from the agent's own calls: every authenticated SOAP call
of an active agent refreshes ``users.last_heartbeat_utc`` (at most once per
interval; ``stws.security.heartbeat``). An active agent with no heartbeat
at all counts as silent.

A silent agent (``is_active_agent`` and a heartbeat older than the limit,
found through the index on those two columns) is, in one transaction per
agent:

* set inactive (``is_active_agent`` false) and receiving in none of their
  groups (``group_agents.is_receiving`` false, ``receiving_changed_utc``
  now, as when the agent stops receiving themselves: rebalance rules that
  run on an agent's deactivation see it), and
* their active tickets are handed off exactly as HandOffActiveTickets does
  (``stws.domain.tickets.agents.hand_off_active_tickets``: to other
  receiving agents of each ticket's group by its distribution, or to the
  group's queue; pinned and Waiting tickets stay), each with a history
  event by "system".

The deactivation re-checks the heartbeat in its UPDATE, so an agent whose
heartbeat arrived meanwhile is left alone. At most ``BATCH`` agents per run.
The job returns how many agents it set inactive.
"""
from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import and_, or_, select, update

from stws.db.models import GroupAgent, User
from stws.domain.tickets.agents import hand_off_active_tickets

log = logging.getLogger("stws.threads")

HEARTBEATS_MISSED = 3
MINIMUM_SILENCE = dt.timedelta(seconds=60)
BATCH = 100


def silence_limit(options) -> dt.timedelta:
    """How long an active agent may stay silent: 3 x the Heartbeat Interval, at least 60 s."""
    return max(HEARTBEATS_MISSED * dt.timedelta(seconds=options.HeartbeatIntervalSeconds), MINIMUM_SILENCE)


def _silent(cutoff: dt.datetime):
    return and_(User.is_active_agent.is_(True),
                or_(User.last_heartbeat_utc.is_(None), User.last_heartbeat_utc < cutoff))


def run(context) -> int:
    runtime = context.runtime
    cutoff = context.now - silence_limit(runtime.options.get())
    with runtime.db.transaction(writes=False) as session:
        silent = list(session.scalars(select(User.id).where(_silent(cutoff)).order_by(User.id).limit(BATCH)))
    done = 0
    for agent_id in silent:
        with runtime.db.transaction() as session:
            changed = session.execute(
                update(User).where(User.id == agent_id, _silent(cutoff)).values(is_active_agent=False)
                .execution_options(synchronize_session=False)
            ).rowcount
            if not changed:
                continue  # a heartbeat came in meanwhile
            # receiving_changed_utc: rebalance rules that run when an agent
            # stops receiving (Ticket Watcher) see this as such a change.
            session.execute(
                update(GroupAgent).where(GroupAgent.user_id == agent_id, GroupAgent.is_receiving.is_(True))
                .values(is_receiving=False, receiving_changed_utc=context.now)
                .execution_options(synchronize_session=False))
            handed = hand_off_active_tickets(session, agent_id)
        done += 1
        log.info("Auto-Inactive: agent %d had no heartbeat since %s: set inactive; %s",
                 agent_id, cutoff.isoformat(), handed.message())
    return done
