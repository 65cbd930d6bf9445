"""Ally's web app: a Django project whose apps are named for what users see."""
