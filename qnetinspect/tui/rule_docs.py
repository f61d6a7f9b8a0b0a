"""Find a rule's user documentation (its docstring) by slug, for the explanation pane."""

from __future__ import annotations

from functools import cache

from qnetinspect.rules import rule_by_slug
from qnetinspect.rules.base import RuleDoc


@cache
def rule_doc(slug: str) -> RuleDoc | None:
    """The docstring of the rule ``slug``, split into summary, why and fix; None if unknown."""
    rule = rule_by_slug(slug)
    return None if rule is None else rule.doc()
