"""Meta's own error-code table (../shared/conformance/meta_error_codes.json, parsed from Meta's page, written by
nobody here) against the catalog: every code is covered or listed as one the product cannot meet, with a
reason; where Meta's table gives an HTTP status and a title, the catalog agrees. The simulator, which answers
as Meta does, agrees on the status too."""

from __future__ import annotations

import re

import conformance
import pytest

from mmapi.simulator import errors as simulated
from mmcore.meta.error_codes import NOT_MET
from mmcore.meta.errors import CATALOG, UNKNOWN, lookup, rule_for


def table() -> list[dict]:
    return conformance.load("meta_error_codes.json")["codes"]


def normalized(title: str) -> str:
    """Meta's title without the MM table's "(#code) " prefix, trailing period, curly quotes or case."""
    title = re.sub(r"^\(#\d+\)\s*", "", title.replace("\u2019", "'"))
    return " ".join(title.rstrip(".").split()).casefold()


def test_every_code_of_metas_table_is_covered_or_listed_as_one_the_product_cannot_meet():
    codes = {row["code"] for row in table()}
    uncovered = sorted(c for c in codes if lookup(c) is None and c not in NOT_MET)
    assert uncovered == [], "codes of Meta's table with no rule and no reason"
    assert sorted(c for c in NOT_MET if lookup(c) is not None) == [], "listed as not met, yet in the catalog"
    assert set(NOT_MET) <= codes, "a not-met code Meta's table does not have"
    assert all(reason.strip() for reason in NOT_MET.values())
    assert len(codes) == 80 and len(codes - set(NOT_MET)) == 68  # the figures the README and the lead quote


def test_codes_meta_added_in_2026_are_covered_beyond_the_table():
    for code in (131061, 131062, 131063):
        assert rule_for(code) is not UNKNOWN


@pytest.mark.parametrize("section", ["Template creation errors", "Send template errors", "Other errors"])
def test_whole_sections_a_sender_or_template_manager_meets_are_covered(section):
    assert [r["code"] for r in table() if r["section"] == section and lookup(r["code"]) is None] == []


def test_http_status_agrees_with_metas_table_where_it_gives_one():
    wrong = {
        row["code"]: (lookup(row["code"]).http_status, row["http"])
        for row in table()
        if row["http"] is not None and lookup(row["code"]) is not None
        if lookup(row["code"]).http_status != row["http"]
    }
    assert wrong == {}, "code: (catalog, Meta)"


def test_titles_are_metas():
    wrong = {
        row["code"]: (lookup(row["code"]).title, row["title"])
        for row in table()
        if lookup(row["code"]) is not None
        and normalized(lookup(row["code"]).title) != normalized(row["title"])
    }
    assert wrong == {}, "code: (catalog, Meta)"


def test_the_simulator_answers_with_metas_http_status():
    meta = {row["code"]: row["http"] for row in table() if row["http"] is not None}
    wrong = {
        c: (e.http_status, meta[c])
        for c, e in simulated.CATALOG.items()
        if c in meta and e.http_status != meta[c]
    }
    assert wrong == {}, "code: (simulator, Meta)"


def test_every_code_the_simulator_can_answer_is_one_the_product_knows():
    assert sorted(set(simulated.CATALOG) - set(CATALOG)) == []


def test_no_5xx_of_metas_table_is_retried_as_if_meta_had_not_taken_the_message():
    # A 5xx reached Meta; unless Meta refuses for a cause that needs a human (halt) or for good, a retry could
    # duplicate the message (issue 16: 41 duplicate POSTs from 131016 and 133004). 134102 (ad sync /
    # onboarding) and the halts state why the message was refused.
    retried = {
        row["code"]: rule_for(row["code"])
        for row in table()
        if (row.get("http") or 0) >= 500 and rule_for(row["code"]).action.value.startswith("retry")
    }
    assert sorted(retried) == [2, 131000, 131016, 131057, 133004]
    assert all(rule.ambiguous for rule in retried.values())
