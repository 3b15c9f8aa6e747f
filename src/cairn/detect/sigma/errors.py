"""Why a rule cannot be converted: pySigma errors, so that ``collect_errors`` gathers them too."""

from __future__ import annotations

from sigma.exceptions import SigmaFeatureNotSupportedByBackendError


class SigmaUnsupported(SigmaFeatureNotSupportedByBackendError):
    """The rule uses something the cairn backend does not translate (a modifier, a value type)."""


class UnknownField(SigmaUnsupported):
    """A field name that the rule's log source does not have."""


class UnknownLogsource(SigmaUnsupported):
    """A log source no lake table serves."""
