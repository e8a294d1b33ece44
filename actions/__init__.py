"""Custom actions (rasa_sdk), one module per domain area. Run: `rasa run actions`."""
