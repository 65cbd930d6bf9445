"""A client's own goals: set with the clinician or through the client's link, rated 0-10 at the
sessions the plan says, reworded with their history kept, closed, and scaled for attainment."""
