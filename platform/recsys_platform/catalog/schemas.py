"""Catalog schema (declared item fields) and the item import API shapes."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

FieldType = Literal["string", "text", "integer", "number", "boolean", "timestamp", "string_list", "variants"]
FieldName = Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_]{0,62}$")]
RESERVED_FIELDS = frozenset({"item_id"})
MAX_BATCH = 10_000


class CatalogField(BaseModel):
    """One declared item attribute.

    ``text`` is free text the content model indexes (TF-IDF); ``string`` is a
    categorical value (filters, diversity); ``string_list`` holds tags or genres;
    ``variants`` holds the item's presentation variants (thumbnails, title wordings) that the
    contextual bandit chooses among: ``[{"id": "thumb-a", "features": {"style": "face"}}, ...]``.
    """

    model_config = ConfigDict(extra="forbid")

    name: FieldName
    type: FieldType
    required: bool = False
    description: str | None = Field(default=None, max_length=500)


class CatalogSchema(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fields: list[CatalogField] = Field(default_factory=list, max_length=200)

    @model_validator(mode="after")
    def _names(self) -> CatalogSchema:
        seen: set[str] = set()
        for i, f in enumerate(self.fields):
            if f.name in RESERVED_FIELDS:
                raise ValueError(f"fields[{i}].name: '{f.name}' is reserved")
            if f.name in seen:
                raise ValueError(f"fields[{i}].name: '{f.name}' is declared twice")
            seen.add(f.name)
        return self

    def by_name(self) -> dict[str, CatalogField]:
        return {f.name: f for f in self.fields}


class ItemBatch(BaseModel):
    """Up to 10,000 items; each record is validated on its own."""

    model_config = ConfigDict(extra="forbid")

    items: list[Any] = Field(min_length=1, max_length=MAX_BATCH)


class ItemResult(BaseModel):
    index: int
    item_id: str | None
    status: Literal["created", "updated", "rejected"]
    errors: list[dict[str, str]] = Field(default_factory=list)


class ItemBatchResult(BaseModel):
    created: int
    updated: int
    rejected: int
    results: list[ItemResult]


class ItemPublic(BaseModel):
    item_id: str
    attributes: dict[str, Any]
    created_at: Any
    updated_at: Any


class ItemPage(BaseModel):
    items: list[ItemPublic]
    next_cursor: str | None


_TEXT = "text"
TEMPLATES: dict[str, CatalogSchema] = {
    "news": CatalogSchema(
        fields=[
            CatalogField(name="title", type=_TEXT, required=True),
            CatalogField(name="abstract", type=_TEXT),
            CatalogField(name="category", type="string"),
            CatalogField(name="subcategory", type="string"),
            CatalogField(name="published_at", type="timestamp"),
            CatalogField(name="tags", type="string_list"),
        ]
    ),
    "ecommerce": CatalogSchema(
        fields=[
            CatalogField(name="title", type=_TEXT, required=True),
            CatalogField(name="description", type=_TEXT),
            CatalogField(name="category", type="string"),
            CatalogField(name="brand", type="string"),
            CatalogField(name="price", type="number"),
            CatalogField(name="in_stock", type="boolean"),
            CatalogField(name="tags", type="string_list"),
        ]
    ),
    "video": CatalogSchema(
        fields=[
            CatalogField(name="title", type=_TEXT, required=True),
            CatalogField(name="description", type=_TEXT),
            CatalogField(name="genres", type="string_list"),
            CatalogField(name="duration_seconds", type="integer"),
            CatalogField(name="release_date", type="timestamp"),
            CatalogField(name="maturity_rating", type="string"),
        ]
    ),
}
