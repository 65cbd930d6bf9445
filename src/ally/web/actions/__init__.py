"""Every write of the web app, one `do_*` function each (Zulip's actions shape).

Each changes the database in one transaction and owns its consequences: the episode's results
under the practice model, alerts of every kind and the audit entry. Views, the API, commands and
the demo call these and write nothing themselves.

answers    administrations, responses and amendments (the one write path for answers)
practice   clients, episodes, care teams, sessions and measurement plans
alerts     seeing and acting on alerts
monitoring fitting the practice model
privacy    erasure and the erasure policy
accounts   members' sign-in security
"""
