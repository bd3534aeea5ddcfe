"""A/B experiments: weighted variants over deployments, results with confidence intervals."""
