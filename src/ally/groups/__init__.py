"""Groups: how much members of a group agree before their scores are read as the group's."""
