"""Learner identity per xAPI identifier form, and score scaling (pure functions, no database)."""

from __future__ import annotations

import hashlib

from laurel.events.connectors.xapi.mapping import learner_key, learner_of, score_of


def test_one_stable_learner_id_per_identifier_form() -> None:
    assert learner_key({"mbox": "mailto:Ana.Diaz@Example.com"}) == "mbox:ana.diaz@example.com"
    assert (
        learner_key({"mbox_sha1sum": "EBD31E95054C018B10727CCFFD2EF2EC3A016EE9"})
        == "sha1:ebd31e95054c018b10727ccffd2ef2ec3a016ee9"
    )
    assert (
        learner_key({"account": {"homePage": "https://lms.example.com", "name": "E1001"}})
        == "account:https://lms.example.com|E1001"
    )
    assert learner_key({"openid": "http://toby.openid.example.org/"}) == (
        "openid:http://toby.openid.example.org/"
    )
    assert learner_key({"objectType": "Group", "mbox": "mailto:team@example.com"}) is None


def test_long_identifiers_are_hashed_and_emails_kept() -> None:
    name = "x" * 250
    account = {"account": {"homePage": "https://lms.example.com", "name": name}}
    digest = hashlib.sha256(f"https://lms.example.com|{name}".encode()).hexdigest()
    assert learner_key(account) == f"account-sha256:{digest}"
    learner = learner_of({"mbox": "mailto:Bo@Example.com", "name": "Bo"})
    assert learner is not None
    assert (learner.external_id, learner.email, learner.name) == (
        "mbox:bo@example.com",
        "bo@example.com",
        "Bo",
    )


def test_scores() -> None:
    assert score_of({"score": {"scaled": 0.8}}) == 0.8
    assert score_of({"score": {"scaled": 1}}) == 1.0
    assert score_of({"score": {"scaled": -0.5}}) == 0.0
    assert score_of({"score": {"raw": 30, "min": 10, "max": 60}}) == 0.4
    assert score_of({"score": {"raw": 7}}) is None
    assert score_of({"success": True}) is None
