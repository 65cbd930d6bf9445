"""How passwords are stored: Argon2id with parameters chosen on purpose, not by default."""

from __future__ import annotations

import dataclasses
from typing import Any

from django.contrib.auth.hashers import Argon2PasswordHasher


class RFC9106Argon2PasswordHasher(Argon2PasswordHasher):
    """Argon2id with RFC 9106's second recommended option: t=3 passes, p=4 lanes, m=64 MiB, a
    128-bit salt and a 256-bit tag (RFC 9106, section 4, "If much less memory is available").

    Why this option: it is the standard's own choice for servers that cannot give 2 GiB to each
    sign-in, and it costs more than OWASP's minimum (m=19 MiB, t=2, p=1), which a practice
    signing in a few dozen times a day can afford; benchmarks/login_cost.py measures a sign-in
    at about 0.2 s on 2 cores. Django's default (t=2, p=8, m=100 MiB, 128-bit tag) follows no
    published recommendation. Hashes with other parameters are rehashed at the next sign-in
    (Django's `must_update`), as the algorithm's name stays "argon2".
    """

    time_cost = 3
    memory_cost = 64 * 1024  # KiB
    parallelism = 4
    hash_len = 32  # bytes: RFC 9106's 256-bit tag (argon2-cffi's default is 16)

    def params(self) -> Any:
        return dataclasses.replace(super().params(), hash_len=self.hash_len)
