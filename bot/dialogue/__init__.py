"""Rasa's dialogue side, as we run it: the server entry point with measured fixes, and the tracker store."""
