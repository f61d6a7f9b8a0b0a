"""Parser of HMP ``info usernet``. (stub: being written)"""

from __future__ import annotations

from qnetinspect.models import UsernetForward


def parse_usernet(text: str) -> tuple[UsernetForward, ...]:
    return ()
