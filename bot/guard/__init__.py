"""The shopper's path before Rasa: every channel screens a message here first."""
