"""Shoppers' personal data: masked wherever it is stored or shown beyond the flow that needs it."""
