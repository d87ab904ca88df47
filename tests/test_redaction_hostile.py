"""Redaction runs on every server error message, so it must survive any text a server sends:
no secret survives it, and no input makes it slow (every pattern is linear, the text capped)."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from thredfi_django.redaction import MAX_LENGTH, TRUNCATED, redact

# Pieces that make a backtracking pattern try every split of a long run.
ADVERSARIAL_UNITS = [
    "a-",
    "eyJ-",
    "eyJaaaaa.",
    "token=",
    "api_key:",
    "Bearer ",
    "a1",
    "x",
    "sk_live_",
]

adversarial = st.builds(
    lambda unit, times, tail: unit * times + tail,
    st.sampled_from(ADVERSARIAL_UNITS),
    st.integers(min_value=1, max_value=6000),
    st.text(max_size=20),
)
secrets = st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", min_size=8, max_size=40)
relaxed = settings(deadline=None, max_examples=150)


@relaxed
@given(text=st.one_of(st.text(max_size=3000), adversarial))
def test_redacted_text_stays_within_a_small_multiple_of_the_cap(text):
    # Masks may lengthen short tokens ("Bearer x" -> "Bearer [redacted]"), never unboundedly.
    assert len(redact(text, [])) <= 3 * MAX_LENGTH


@relaxed
@given(before=st.text(max_size=500), after=st.text(max_size=500), secret=secrets)
def test_a_known_secret_never_survives_wherever_it_sits(before, after, secret):
    assert secret not in redact(before + secret + after, [secret])


@relaxed
@given(before=st.one_of(st.text(max_size=300), adversarial), token=secrets)
def test_a_bearer_token_never_survives_after_any_text(before, token):
    text = f"{before[-300:]} Authorization: Bearer {token} rejected"
    assume(token not in before)
    assert token not in redact(text, [])


@pytest.mark.timeout(60)  # generous: the linear patterns take milliseconds; a blow-up takes hours
@pytest.mark.parametrize("unit", ADVERSARIAL_UNITS)
def test_a_megabyte_of_adversarial_text_is_redacted(unit):
    text = unit * (1_000_000 // len(unit))
    result = redact(text, [])
    assert result.endswith(TRUNCATED)
