"""People who sign in: the user model, two-factor sign-in, sessions, lockout, the account page
and the members page."""
