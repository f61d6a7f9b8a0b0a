"""Find a rule's user documentation (its docstring) by slug, for the explanation pane."""

from __future__ import annotations

from functools import cache

from qnetinspect.rules.base import Rule, RuleDoc


def _subclasses(cls: type[Rule]) -> list[type[Rule]]:
    out: list[type[Rule]] = []
    for sub in cls.__subclasses__():
        out.append(sub)
        out.extend(_subclasses(sub))
    return out


@cache
def rule_doc(slug: str) -> RuleDoc | None:
    """The docstring of the rule ``slug``, split into summary, why and fix; None if unknown."""
    import qnetinspect.rules  # noqa: F401 - importing the registry defines the rules

    for cls in _subclasses(Rule):
        if getattr(cls, "slug", None) == slug:
            return cls.doc()
    return None
