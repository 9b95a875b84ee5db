"""Indexes for the dashboard: lookup events by kind and time, inputs and survey answers by time.

Revision ID: 0008_call_report_indexes
Revises: 0007_queues
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008_call_report_indexes"
down_revision: str | Sequence[str] | None = "0007_queues"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_call_events_kind_at", "call_events", ["kind", "at"])
    op.create_index("ix_call_inputs_at", "call_inputs", ["at"])
    op.create_index("ix_survey_answers_at", "survey_answers", ["at"])


def downgrade() -> None:
    op.drop_index("ix_survey_answers_at", table_name="survey_answers")
    op.drop_index("ix_call_inputs_at", table_name="call_inputs")
    op.drop_index("ix_call_events_kind_at", table_name="call_events")
