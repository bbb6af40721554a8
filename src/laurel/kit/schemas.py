"""Pydantic shapes shared by every API: money in, money out, pages."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictStr, model_validator

from laurel.kit.money import Money

T = TypeVar("T")


def refuse_null(value: T) -> T:
    """For PATCH fields that may be left out but not set to null."""
    if value is None:
        raise ValueError("must not be null; leave the field out to keep its value")
    return value


class MoneyIn(BaseModel):
    """``{"amount": "25.00", "currency": "USD"}``: the amount is a string, never a JSON number."""

    model_config = ConfigDict(extra="forbid")

    amount: Annotated[StrictStr, Field(examples=["25.00"])]
    currency: Annotated[StrictStr, Field(examples=["USD"], min_length=3, max_length=3)]

    @model_validator(mode="after")
    def _valid(self) -> MoneyIn:
        Money.parse(self.amount, self.currency)
        return self

    def to_money(self) -> Money:
        return Money.parse(self.amount, self.currency)


class MoneyOut(BaseModel):
    amount: str = Field(examples=["25.00"])
    currency: str = Field(examples=["USD"])

    @classmethod
    def of(cls, minor: int, currency: str) -> MoneyOut:
        money = Money(minor, currency)
        return cls(amount=money.format_amount(), currency=currency)


class PageOut(BaseModel, Generic[T]):
    data: list[T]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` to get the next page; null on the last page"
    )
