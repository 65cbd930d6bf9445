"""Collecting answers: measurement plans, administrations, responses and their amendments."""
