"""Research statistics: linear mixed models and the alliance–outcome analyses built on them."""
