"""Errors raised by the hybrid recommender, its artifact format and its evaluation."""

from __future__ import annotations


class InsufficientDataError(ValueError):
    """There is too little data to train a model; the message says what is missing."""


class UnknownItemError(KeyError):
    """An item id is not in the model's catalog."""

    def __init__(self, item_id: str) -> None:
        super().__init__(item_id)
        self.item_id = item_id

    def __str__(self) -> str:
        return f"unknown item {self.item_id!r}: not in the model's catalog"


class ArtifactError(ValueError):
    """A model artifact is corrupt, incomplete or of an incompatible schema version.

    The message names the file or manifest field at fault.
    """
