"""The JSON depth check every body goes through (`hub.values.too_deep`), against the
definition of nesting depth: the check walks a level at a time, in C where it can."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cityhelix.hub.values import too_deep


def _depth(value: object) -> int:
    """The nesting depth of containers in `value`, by definition (recursive)."""
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=3),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=2), inner, max_size=4)
    ),
    max_leaves=40,
)


@settings(max_examples=400, deadline=None)
@given(value=_JSON, limit=st.integers(min_value=0, max_value=8))
def test_the_depth_check_finds_what_a_recursive_walk_finds(value: object, limit: int) -> None:
    """`too_deep`'s walk, a level at a time in C, agrees with the definition."""
    assert (too_deep(value, limit) is not None) == (_depth(value) > limit)
