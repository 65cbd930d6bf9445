"""The practice: organisation, members and roles, clients, episodes, care teams, sessions."""
