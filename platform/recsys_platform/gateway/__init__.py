"""The gateway: the multi-tenant hot path (events in; recommendations out in a later issue)."""
