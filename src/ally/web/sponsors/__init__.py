"""Sponsors: the employer or body that pays for a client's coaching, and what it may see."""
