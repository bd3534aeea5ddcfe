"""Guardrails: an ordered, declarative layer over the served slate (business rules, diversity,
freshness, fairness), per tenant and surface, validated at write time."""
