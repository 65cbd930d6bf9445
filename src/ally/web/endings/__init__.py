"""How an episode ends: the final measures and the client's review after a planned ending, the
clinician's closing summary, and a follow-up check some weeks later."""
