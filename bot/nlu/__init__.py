"""Custom NLU pieces: text normalisation, the e5 sentence featurizer, catalog-derived assets."""
