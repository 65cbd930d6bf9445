"""People who sign in: the custom user model (email and password)."""
