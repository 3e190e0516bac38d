"""htmldate's whole-page date patterns give the same findall lists when searched from their
digits (transforms.datepatterns)."""
from __future__ import annotations

import re
import types

import htmldate.core
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import transforms.htmlclean  # noqa: F401 - installs the faster patterns in htmldate.core
from bench.extraction import load_pages
from tests.conftest import shared_data
from transforms.datepatterns import VETTED, DigitSecondPattern, speed_up_date_patterns

PATTERNS = sorted(VETTED)
# Pieces of dates, their separators and neighbours: newlines (which "." does not match),
# letters, the "w3.org" that one pattern looks behind for, non-ASCII digits (\d, not [0-9]).
PIECES = ["2019", "1999", "2031", "19990101", "20201231", "12", "31", "0", "1", "2", "9", "/", ".", "-",
          "\n", " ", "a", "Z", "w3.org", "©", "٣", "\u00a0"]


@settings(max_examples=400, deadline=None)
@given(text=st.lists(st.sampled_from(PIECES), max_size=40).map("".join), pattern=st.sampled_from(PATTERNS))
def test_findall_from_the_digits_is_the_patterns_own(text, pattern):
    original = re.compile(pattern)
    assert DigitSecondPattern(original).findall(text) == original.findall(text)


@pytest.mark.parametrize("corpus", ["aeb-dev", "wcxb-dev"])
def test_findall_from_the_digits_is_the_patterns_own_on_real_pages(corpus):
    pages = load_pages(shared_data(corpus))[::4]
    assert len(pages) >= 30
    for pattern in PATTERNS:
        original = re.compile(pattern)
        fast = DigitSecondPattern(original)
        for _, html, _ in pages:
            assert fast.findall(html) == original.findall(html)


def test_htmldate_searches_its_pages_with_the_faster_patterns():
    replaced = [value for value in vars(htmldate.core).values() if isinstance(value, DigitSecondPattern)]
    replaced += [item for value in vars(htmldate.core).values() if isinstance(value, tuple)
                 for item in value if isinstance(item, DigitSecondPattern)]
    assert {p.pattern for p in replaced} == VETTED  # all of them: none was renamed or changed
    three = htmldate.core.THREE_COMP_PATTERNS
    assert isinstance(three, tuple) and isinstance(three[1], DigitSecondPattern)
    assert not isinstance(three[0], DigitSecondPattern)  # starts with "/": not vetted, already fast


def test_only_vetted_patterns_are_replaced_and_the_rest_is_the_patterns_own():
    vetted = re.compile(next(p for p in PATTERNS if p.startswith(r"\D([0-3]?[0-9]/")))  # day/month/year
    other = re.compile(r"\D(abc)\D")
    module = types.ModuleType("fake")
    module.ONE, module.OTHER, module.BOTH = vetted, other, [other, vetted]
    assert speed_up_date_patterns(module) == 2
    assert module.OTHER is other and module.BOTH[0] is other
    assert isinstance(module.ONE, DigitSecondPattern) and isinstance(module.BOTH[1], DigitSecondPattern)
    assert module.ONE.pattern == vetted.pattern and module.ONE.search(" 1/2/99 ") is not None
    assert module.ONE.findall(" 1/2/99 x 3/4/05 ", 4) == vetted.findall(" 1/2/99 x 3/4/05 ", 4)

