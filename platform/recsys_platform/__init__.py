"""recsys platform: control plane, gateway, stream processor and their adapters."""

__version__ = "0.1.0"
