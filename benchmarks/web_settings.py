"""Ally's settings for the load benchmark, plus the refresh mode from the environment.

Until settings.py reads ALLY_FEEDBACK_REFRESH itself, the benchmark's server and its refresh
processes load this module, so `web_load.py --refresh worker|inline|background` takes effect.
Everything else is production's settings module unchanged.
"""

import os

from ally.web.settings import *  # noqa: F403

ALLY_FEEDBACK_REFRESH = os.environ.get("ALLY_FEEDBACK_REFRESH", "background")
