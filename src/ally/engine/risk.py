"""Dropout risk in the batch engine: the practice's model where there is one, else indicators.

The features are the core's window expressions (`ally.feedback.dropout_features`); the model's
probabilities are computed in numpy and joined back by client, episode and session.
"""

from __future__ import annotations

from pathlib import Path

import ibis
import numpy as np
from ibis.expr.types import Table, Value

from ally.engine.errors import AnalysisError
from ally.engine.read import stored
from ally.feedback.dropout import (
    DropoutModel,
    DropoutModelError,
    load_dropout_model,
    risk_indicators,
)
from ally.feedback.dropout_features import measure_facts, session_features
from ally.measures.library import Library

KEYS = ("client", "episode", "session")


def load_model(path: Path | None) -> DropoutModel | None:
    if path is None:
        return None
    try:
        return load_dropout_model(path)
    except OSError as exc:
        raise AnalysisError(f"{path}: cannot be read ({exc.strerror}).") from exc
    except DropoutModelError as exc:
        raise AnalysisError(str(exc)) from exc


def with_dropout_risk(
    backend: ibis.BaseBackend, sessions: Table, library: Library, model: DropoutModel | None
) -> Table:
    """`sessions` plus `dropout_risk` (with a model) and `risk_flags` (the indicators met)."""
    facts = measure_facts(library)
    features = session_features(sessions, facts.kinds, signs=facts.signs, ranges=facts.ranges)
    features = stored(backend, "ally_features", features)
    flags = risk_indicators(features)
    named: Value = ibis.literal("")
    for name, flag in flags.items():
        named = named + ibis.ifelse(flag.fill_null(False), f"{name};", "")
    per_session = features.select(*KEYS, risk_flags=named.re_replace(";$", "").nullif(""))
    if model is not None:
        missing = [f for f in model.features if f not in features.columns]
        if missing:
            raise AnalysisError(
                f"the dropout model needs {', '.join(missing)}, which this analysis lacks; "
                "fit the model on an analysis with the same measures."
            )
        wanted = list(dict.fromkeys([*KEYS, *model.features]))
        data = features.select(*wanted).to_pyarrow()
        x = np.column_stack(
            [
                np.asarray(data.column(f).to_numpy(zero_copy_only=False), float)
                for f in model.features
            ]
        )
        risk = ibis.memtable(
            {
                "client": data.column("client"),
                "episode": data.column("episode"),
                "session": data.column("session"),
                "dropout_risk": model.predict_proba(x),
            }
        )
        per_session = per_session.join(risk, list(KEYS))
    else:
        per_session = per_session.mutate(dropout_risk=ibis.null("float64"))
    joined = sessions.left_join(per_session, list(KEYS))
    return joined.drop(*(f"{k}_right" for k in KEYS))
