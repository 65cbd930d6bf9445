"""Group therapy in the practice: schedules, group plans, group sessions and the group page."""
