"""Tremendous API v2 (``tremendous``): orders, lookup by ``external_id``, products, balance.

Authentication is ``Authorization: Bearer <API key>``. Rewards are ordered with delivery
method ``LINK``: Tremendous sends nothing and the redemption link in the answer is what Laurel
delivers.

Idempotency: ``external_id`` is the reward id (32 hex characters). Tremendous answers a first
order **200** and a replay with the same payload **201** with the existing order (the opposite
of Tango); a replay with *different* parameters gets **409**. A 409 is settled by looking the
order up: if it is this reward's order (same product and value; the recipient may have changed
its address since) it is the delivery, otherwise a permanent error. Balances are USD cents.
"""

from __future__ import annotations

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
from laurel.kit.money import Money

VENDOR = "Tremendous"
RATE_LIMIT_PAUSE = 1.0
"""Tremendous allows ten requests a second and asks for about a second's pause after a 429."""

_KINDS = {
    "merchant_card": "gift_card",
    "visa_card": "prepaid_card",
    "charity": "charity",
}
"""Product categories Laurel offers; cash-like payouts (PayPal, ACH, Venmo …) are left out."""


class TremendousProvider:
    name = "tremendous"

    def __init__(
        self,
        base_url: str,
        api_key: str,
        funding_source_id: str = "balance",
        products: dict[str, str] | None = None,
        campaign_id: str | None = None,
        timeout: float = 15.0,
        requests_per_second: float | None = None,
    ) -> None:
        self.funding_source_id = funding_source_id
        self.products = dict(products or {})
        self.campaign_id = campaign_id
        self.api = VendorApi(
            VENDOR,
            base_url,
            timeout=timeout,
            requests_per_second=requests_per_second,
            rate_limit_pause=RATE_LIMIT_PAUSE,
            headers={"Authorization": f"Bearer {api_key}"},
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> TremendousProvider:
        assert settings.tremendous_base_url
        return cls(
            settings.tremendous_base_url,
            settings.tremendous_api_key,
            settings.tremendous_funding_source_id,
            settings.tremendous_products,
            settings.tremendous_campaign_id,
            settings.tremendous_timeout_seconds,
            settings.tremendous_requests_per_second,
        )

    def close(self) -> None:
        self.api.close()

    # ------------------------------------------------------------ orders

    def issue(self, order: IssueOrder) -> Issued:
        product = (
            order.sku
            or self.products.get(f"{order.reward_kind}:{order.amount.currency}")
            or self.products.get(order.reward_kind)
        )
        reward: dict[str, Any] = {
            "value": {
                "denomination": order.amount.as_decimal(),
                "currency_code": order.amount.currency,
            },
            "delivery": {"method": "LINK"},
        }
        if product:
            reward["products"] = [product]
        elif self.campaign_id:
            reward["campaign_id"] = self.campaign_id
        else:
            raise PermanentProviderError(
                f"no Tremendous product for reward kind {order.reward_kind!r}: set "
                "LAUREL_TREMENDOUS_PRODUCTS or LAUREL_TREMENDOUS_CAMPAIGN_ID"
            )
        if order.recipient_email or order.recipient_name:
            reward["recipient"] = {
                k: v
                for k, v in (("name", order.recipient_name), ("email", order.recipient_email))
                if v
            }
        if order.locale:
            reward["language"] = order.locale.split("-")[0].split("_")[0].lower()
        ref = external_ref(order.idempotency_key)
        body = {
            "external_id": ref,
            "payment": {"funding_source_id": self.funding_source_id},
            "reward": reward,
        }
        answer, found = self.api.place("/orders", body, lambda: self._find(ref))
        placed = answer if found else answer.get("order")
        if not isinstance(placed, dict):
            raise PermanentProviderError("Tremendous answered without an order")
        _same_order(placed, order, product)
        return self._issued(placed)

    def pays_in(self, reward_kind: str, currency: str) -> bool:
        """True when ``LAUREL_TREMENDOUS_PRODUCTS`` names a product of this kind in
        ``currency``, or when no product is pinned for the kind and a campaign is configured
        (a Tremendous campaign takes an order's ``currency_code`` as given)."""
        if f"{reward_kind}:{currency}" in self.products:
            return True
        return self.campaign_id is not None and reward_kind not in self.products

    def lookup(self, idempotency_key: str) -> Issued | None:
        found = self._find(external_ref(idempotency_key))
        return self._issued(found) if found is not None else None

    def _find(self, ref: str) -> dict[str, Any] | None:
        listed = self.api.call("GET", "/orders", params={"external_id": ref})
        for placed in listed.get("orders") or []:
            if placed.get("external_id") == ref:
                found: dict[str, Any] = placed
                return found
        return None

    def _issued(self, placed: dict[str, Any]) -> Issued:
        rewards = placed.get("rewards") or []
        first: dict[str, Any] = rewards[0] if rewards else {}
        link = (first.get("delivery") or {}).get("link")
        if first.get("id") and not link:
            # Lists may leave the link out; the reward itself has it.
            first = self.api.call("GET", f"/rewards/{first['id']}").get("reward") or first
            link = (first.get("delivery") or {}).get("link")
        value = first.get("value") or {}
        details: dict[str, Any] = {
            "order_status": placed.get("status"),
            "reward_id": first.get("id"),
            "value": format(value.get("denomination", ""), "") if value else None,
            "currency": value.get("currency_code"),
        }
        if link:
            details["url"] = link
        if first.get("expires_at"):
            details["expires_at"] = first["expires_at"]
        return Issued(reference=str(placed["id"]), details=details)

    # ------------------------------------------------------------ catalog and balance

    def catalog(self) -> list[CatalogOffer]:
        offers = []
        for product in self.api.call("GET", "/products").get("products") or []:
            kind = _KINDS.get(str(product.get("category")))
            if kind is None:
                continue
            for currency in product.get("currency_codes") or []:
                try:
                    offers.append(_offer(product, kind, currency))
                except (PermanentProviderError, ValueError, TypeError, KeyError):
                    continue  # a product Laurel cannot represent exactly is left out
        return offers

    def balance(self) -> list[Balance]:
        answer = self.api.call("GET", f"/funding_sources/{self.funding_source_id}")
        source = answer.get("funding_source") or {}
        meta = source.get("meta") or {}
        return [
            Balance(
                account=str(source.get("id", self.funding_source_id)),
                available=Money(int(meta.get("available_cents", 0)), "USD"),
            )
        ]


def _same_order(placed: dict[str, Any], order: IssueOrder, product: str | None) -> None:
    rewards = placed.get("rewards") or []
    first: dict[str, Any] = rewards[0] if rewards else {}
    value = first.get("value") or {}
    problems = []
    try:
        amount = to_money(value.get("denomination"), str(value.get("currency_code")))
    except (PermanentProviderError, ValueError, TypeError):
        amount = None
    if amount != order.amount:
        problems.append(
            f"value {value.get('denomination')} {value.get('currency_code')} "
            f"instead of {order.amount}"
        )
    chosen = first.get("products")
    if product and isinstance(chosen, list) and chosen and product not in chosen:
        problems.append(f"products {chosen} instead of {product}")
    if problems:
        raise PermanentProviderError(
            f"Tremendous already has order {placed.get('id')} for this reward's external_id "
            f"with {', '.join(problems)}; not delivered, check the order in Tremendous"
        )


def _offer(product: dict[str, Any], kind: str, currency: str) -> CatalogOffer:
    bands = [
        (to_money(s["min"], currency).minor, to_money(s["max"], currency).minor)
        for s in product.get("skus") or []
    ]
    fixed: tuple[int, ...] = ()
    low = high = None
    if bands and all(lo == hi for lo, hi in bands):
        fixed = tuple(sorted({lo for lo, _ in bands}))
    elif bands:
        low, high = min(lo for lo, _ in bands), max(hi for _, hi in bands)
    images = product.get("images") or []
    image = next((i.get("src") for i in images if isinstance(i, dict) and i.get("src")), None)
    return CatalogOffer(
        provider="tremendous",
        sku=str(product["id"]),
        brand=str(product.get("name", product["id"])),
        kind=kind,
        currency=currency,
        countries=tuple(
            sorted(str(c.get("abbr", "")).upper() for c in product.get("countries") or [])
        ),
        fixed_values_minor=fixed,
        min_minor=low,
        max_minor=high,
        image_url=image,
    )
