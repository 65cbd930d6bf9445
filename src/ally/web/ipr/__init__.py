"""Interpersonal Process Recall in the web app: recorded sessions, the client's consent, two
blind reviews of the recording, the event the client names, and the agreement of the reviews."""
