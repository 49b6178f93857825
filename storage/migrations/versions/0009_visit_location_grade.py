"""visits.location_grade and visits.location_tolerance_m; conversations.told

A check-in 19.8 km from the chosen customer counted as a complete visit: any location did. A visit's location
is now graded when it is recorded (core/visits.py grade_location) and only a location at the store counts
(AT_STORE). The upgrade grades the visits already there from what they stored, by the default tolerance
(300 m, widened by the reported precision for GPS):

- a stored distance beyond the tolerance → outside (no longer complete);
- a stored distance within it → gps_within (GPS) or map_within (anything else);
- a location but no distance (imported history, a store without coordinates) → unmeasured (still counts);
- neither → NULL (no location).

A visit whose coordinates the retention sweep already erased keeps its grade from its distance, so the
figures of old chat visits no longer change when their GPS is erased.

conversations.told remembers what a person has been told once (the welcome) or at most so often.

Revision ID: 0009_visit_location_grade
Revises: 0008_customer_last_touch
"""
import sqlalchemy as sa
from alembic import op

revision = '0009_visit_location_grade'
down_revision = '0008_customer_last_touch'
branch_labels = None
depends_on = None

TOLERANCE_M = 300.0  # handlers.context.HandlerDeps.checkin_tolerance_m's default
GPS_CIRCLE = f"({TOLERANCE_M} + CASE WHEN COALESCE(location_precision_m, 0) > 0 THEN location_precision_m ELSE 0 END)"
CIRCLE = f"CASE WHEN location_source = 'gps' THEN {GPS_CIRCLE} ELSE {TOLERANCE_M} END"
GRADE = f"""
UPDATE visits SET
  location_grade = CASE
    WHEN distance_m IS NOT NULL AND distance_m > {CIRCLE} THEN 'outside'
    WHEN distance_m IS NOT NULL AND location_source = 'gps' THEN 'gps_within'
    WHEN distance_m IS NOT NULL THEN 'map_within'
    WHEN lat IS NOT NULL AND lng IS NOT NULL THEN 'unmeasured'
    ELSE NULL
  END,
  location_tolerance_m = CASE WHEN distance_m IS NOT NULL THEN {CIRCLE} ELSE NULL END
"""


def upgrade() -> None:
    # plain ALTER TABLE on both databases (no batch copy of visits, which photos and visit_tags reference)
    op.add_column('visits', sa.Column('location_grade', sa.String(length=16), nullable=True))
    op.add_column('visits', sa.Column('location_tolerance_m', sa.Float(), nullable=True))
    op.add_column('conversations', sa.Column('told', sa.JSON(), nullable=True))
    op.get_bind().exec_driver_sql(GRADE)


def downgrade() -> None:
    op.drop_column('conversations', 'told')  # SQLite ≥ 3.35 drops a column in place
    op.drop_column('visits', 'location_tolerance_m')
    op.drop_column('visits', 'location_grade')
