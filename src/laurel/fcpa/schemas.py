from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from laurel.fcpa.settings import Policy
from laurel.kit.schemas import MoneyIn, MoneyOut


class FcpaSettingsIn(BaseModel):
    """Limits to change; a limit left out keeps its value. Both limits share one currency:
    send both to change it."""

    model_config = ConfigDict(extra="forbid")

    event_limit: MoneyIn | None = Field(
        default=None,
        description="A reward to a non-US channel partner above this needs compliance approval",
    )
    yearly_limit: MoneyIn | None = Field(
        default=None,
        description="A non-US channel partner's calendar-year total above this needs it",
    )


class FcpaSettingsOut(BaseModel):
    event_limit: MoneyOut
    yearly_limit: MoneyOut
    custom: bool = Field(
        description="True: the organization's own limits; false: the deployment's defaults"
    )

    @classmethod
    def of(cls, policy: Policy) -> FcpaSettingsOut:
        return cls(
            event_limit=MoneyOut.of(policy.event_limit.minor, policy.event_limit.currency),
            yearly_limit=MoneyOut.of(policy.yearly_limit.minor, policy.yearly_limit.currency),
            custom=policy.custom,
        )
