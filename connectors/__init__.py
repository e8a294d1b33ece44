"""Rasa input/output channels: how shoppers' messages reach the assistant."""
