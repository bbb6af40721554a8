"""Tango Card RaaS API v2 (``tango``): orders, lookup by ``externalRefID``, catalog, balance.

Authentication is HTTP Basic (platform name, RaaS key). Orders are placed with
``deliveryMethod: NONE``: Tango sends nothing, and the credential in the answer is what Laurel
delivers (its own email, in the learner's language).

Idempotency: ``externalRefID`` is the reward id (32 hex characters). A first order answers
**201**; a replay with the same key answers **200** with the *original* order, even when the
replay asked for something else. So every answer is compared with the reward (item and face
value); a mismatch is a permanent error, never a delivery of the wrong thing. A 409 (documented
as "duplicate exists") is settled by looking the order up. ``lookup`` lists orders by
``externalRefID`` within the account, which is the scope Tango enforces the key in.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from laurel.config import Settings
from laurel.delivery.providers import (
    Balance,
    CatalogOffer,
    Issued,
    IssueOrder,
    PermanentProviderError,
)
from laurel.delivery.providers.http import VendorApi, external_ref, to_money

VENDOR = "Tango"
RATE_LIMIT_PAUSE = 1.0
"""Tango allows one transaction a second and asks for at least a second's wait after a 429."""


class TangoProvider:
    name = "tango"

    def __init__(
        self,
        base_url: str,
        platform_name: str,
        api_key: str,
        customer_identifier: str,
        account_identifier: str,
        utids: dict[str, str] | None = None,
        timeout: float = 15.0,
        requests_per_second: float | None = None,
    ) -> None:
        self.customer = customer_identifier
        self.account = account_identifier
        self.utids = dict(utids or {})
        self.api = VendorApi(
            VENDOR,
            base_url,
            timeout=timeout,
            requests_per_second=requests_per_second,
            rate_limit_pause=RATE_LIMIT_PAUSE,
            auth=(platform_name, api_key),
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> TangoProvider:
        assert settings.tango_base_url
        return cls(
            settings.tango_base_url,
            settings.tango_platform_name,
            settings.tango_api_key,
            settings.tango_customer_identifier,
            settings.tango_account_identifier,
            settings.tango_utids,
            settings.tango_timeout_seconds,
            settings.tango_requests_per_second,
        )

    def close(self) -> None:
        self.api.close()

    # ------------------------------------------------------------ orders

    def issue(self, order: IssueOrder) -> Issued:
        # An item's face value is in the item's own currency: "kind:CUR" picks one per currency.
        utid = (
            order.sku
            or self.utids.get(f"{order.reward_kind}:{order.amount.currency}")
            or self.utids.get(order.reward_kind)
        )
        if not utid:
            raise PermanentProviderError(
                f"no Tango item for reward kind {order.reward_kind!r} in "
                f"{order.amount.currency}: set LAUREL_TANGO_UTIDS or let the learner choose one"
            )
        body: dict[str, Any] = {
            "externalRefID": external_ref(order.idempotency_key),
            "customerIdentifier": self.customer,
            "accountIdentifier": self.account,
            "utid": utid,
            "amount": order.amount.as_decimal(),
            "deliveryMethod": "NONE",
        }
        recipient = _recipient(order)
        if recipient:
            body["recipient"] = recipient
        placed, _ = self.api.place("/orders", body, lambda: self._find(body["externalRefID"]))
        _same_order(placed, order, utid)
        return _issued(placed)

    def pays_in(self, reward_kind: str, currency: str) -> bool:
        """True when ``LAUREL_TANGO_UTIDS`` names an item of this kind in ``currency``."""
        return f"{reward_kind}:{currency}" in self.utids

    def lookup(self, idempotency_key: str) -> Issued | None:
        found = self._find(external_ref(idempotency_key))
        return _issued(found) if found is not None else None

    def _find(self, ref: str) -> dict[str, Any] | None:
        listed = self.api.call(
            "GET",
            "/orders",
            params={
                "externalRefID": ref,
                "customerIdentifier": self.customer,
                "accountIdentifier": self.account,
            },
        )
        orders = [o for o in listed.get("orders") or [] if o.get("externalRefID") == ref]
        if not orders:
            return None
        # The list leaves credentials out: read the order itself.
        found: dict[str, Any] = self.api.call("GET", f"/orders/{orders[0]['referenceOrderID']}")
        return found

    # ------------------------------------------------------------ catalog and balance

    def catalog(self) -> list[CatalogOffer]:
        offers = []
        for brand in (
            self.api.call("GET", "/catalogs", params={"verbose": "true"}).get("brands") or []
        ):
            image = _image(brand.get("imageUrls") or {})
            for item in brand.get("items") or []:
                if str(item.get("status", "active")).lower() != "active":
                    continue
                currency = item.get("currencyCode")
                try:
                    offers.append(_offer(brand, item, currency, image))
                except (PermanentProviderError, ValueError, TypeError):
                    continue  # an item Laurel cannot represent exactly is left out
        return offers

    def balance(self) -> list[Balance]:
        account = self.api.call("GET", f"/accounts/{self.account}")
        return [
            Balance(
                account=str(account.get("accountIdentifier", self.account)),
                available=to_money(account["currentBalance"], account["currencyCode"]),
            )
        ]


def _recipient(order: IssueOrder) -> dict[str, str]:
    if not order.recipient_email:
        return {}
    first, _, last = (order.recipient_name or "").partition(" ")
    recipient = {"email": order.recipient_email}
    if first:
        # Tango refuses < > / in names.
        recipient["firstName"] = _clean(first)
    if last:
        recipient["lastName"] = _clean(last)
    return recipient


def _clean(name: str) -> str:
    return "".join(ch for ch in name if ch not in "<>/")[:100]


def _same_order(placed: dict[str, Any], order: IssueOrder, utid: str) -> None:
    """Tango answers a replay with the original order whatever was asked: make sure it is
    the order for this reward (same item, same face value)."""
    denomination = placed.get("denomination") or {}
    problems = []
    if str(placed.get("utid", "")).upper() != utid.upper():
        problems.append(f"item {placed.get('utid')} instead of {utid}")
    try:
        value = to_money(denomination.get("value"), str(denomination.get("currencyCode")))
    except (PermanentProviderError, ValueError, TypeError):
        value = None
    if value != order.amount:
        problems.append(
            f"value {denomination.get('value')} {denomination.get('currencyCode')} "
            f"instead of {order.amount}"
        )
    if problems:
        raise PermanentProviderError(
            f"Tango already has order {placed.get('referenceOrderID')} for this reward's "
            f"externalRefID with {', '.join(problems)}; not delivered, check the order in Tango"
        )


def _issued(placed: dict[str, Any]) -> Issued:
    reward = placed.get("reward") or {}
    details: dict[str, Any] = {}
    for credential in reward.get("credentialList") or []:
        kind = str(credential.get("credentialType", "")).lower()
        value = credential.get("value")
        if not isinstance(value, str):
            continue
        if kind in ("cardnumber", "code", "claimcode") and "code" not in details:
            details["code"] = value
        elif kind == "pin":
            details["pin"] = value
        elif kind in ("redemptionurl", "url") and "url" not in details:
            details["url"] = value
        elif kind == "expirationdate":
            details["expires_on"] = value
    if not details:
        for value in (reward.get("credentials") or {}).values():
            details.setdefault("url" if str(value).startswith("http") else "code", str(value))
    denomination = placed.get("denomination") or {}
    details.update(
        {
            "utid": placed.get("utid"),
            "reward_name": placed.get("rewardName"),
            "value": format(Decimal(str(denomination.get("value", "0"))), "f"),
            "currency": denomination.get("currencyCode"),
        }
    )
    if reward.get("redemptionInstructions"):
        details["instructions"] = reward["redemptionInstructions"]
    return Issued(reference=str(placed["referenceOrderID"]), details=details)


def _kind(reward_type: str) -> str:
    text = reward_type.lower()
    if "donation" in text or "charity" in text:
        return "charity"
    if "cash" in text or "prepaid" in text or "visa" in text or "mastercard" in text:
        return "prepaid_card"
    if "merchandise" in text:
        return "merchandise"
    return "gift_card"


def _image(urls: dict[str, str]) -> str | None:
    if not urls:
        return None

    # Keys are sizes such as "200w-326ppi"; the widest is the best for a choice page.
    def width(key: str) -> int:
        digits = "".join(ch for ch in key.split("w", maxsplit=1)[0] if ch.isdigit())
        return int(digits) if digits else 0

    return urls[max(urls, key=width)]


def _offer(
    brand: dict[str, Any], item: dict[str, Any], currency: str, image: str | None
) -> CatalogOffer:
    fixed: tuple[int, ...] = ()
    low = high = None
    if str(item.get("valueType", "")).upper() == "FIXED_VALUE":
        fixed = (to_money(item["faceValue"], currency).minor,)
    else:
        low = to_money(item["minValue"], currency).minor
        high = to_money(item["maxValue"], currency).minor
    return CatalogOffer(
        provider="tango",
        sku=str(item["utid"]),
        brand=str(brand.get("brandName") or item.get("rewardName")),
        kind=_kind(str(item.get("rewardType", ""))),
        currency=currency,
        countries=tuple(sorted(c.upper() for c in item.get("countries") or [])),
        fixed_values_minor=fixed,
        min_minor=low,
        max_minor=high,
        image_url=image,
    )
