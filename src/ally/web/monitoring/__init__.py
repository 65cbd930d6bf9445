"""The engine's results for the practice's episodes, kept so that screens read them fast."""
