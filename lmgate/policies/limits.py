"""What a key or an owner may do: its settings' values, parsed, with what /auth needs precomputed.

Keys get theirs from the allow-list's limit columns (``parse_key_limits``),
owners from ``policies.owners`` in the config (``limits_from_owner``); the
settings are the registered policies' (``policies/settings.py``). Everything
/auth needs per request (the model regex, whether any counter or precheck is
involved) is computed here, once per key.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping

from lmgate.policies.settings import SETTINGS, Setting


class Limits:
    """Settings by name (``limits.rpm``); one not set reads as its default (no limit).

    Every setting registered when the limits are made is an instance attribute, so /auth's reads are plain
    attribute lookups (``__getattr__``, a Python call, only answers settings registered later)."""

    def __init__(self, **values: object) -> None:
        settings = _settings() if values else SETTINGS
        unknown = values.keys() - settings.keys()
        if unknown:
            raise TypeError(f"unknown setting(s) {', '.join(sorted(unknown))}; known: {', '.join(SETTINGS)}")
        kept = {n: tuple(v) if isinstance(v, list) else v for n, v in values.items() if v != SETTINGS[n].default}
        self._values: dict[str, object] = kept
        self.__dict__.update({n: kept.get(n, s.default) for n, s in settings.items()})
        models: tuple[str, ...] = kept.get("models", ())  # type: ignore[assignment]
        # One alternation of translated globs: a single C-level match per request.
        self.model_re = re.compile("|".join(fnmatch.translate(p) for p in models)) if models else None
        self.stateless = not any(SETTINGS[n].judged == "store" for n in kept)  # no counter to consult
        self.needs_precheck = any(SETTINGS[n].judged == "precheck" for n in kept)
        self.unlimited = self.stateless and not self.needs_precheck  # nothing at all to check

    def __getattr__(self, name: str) -> object:
        setting = _settings().get(name)
        if setting is None:
            raise AttributeError(name)
        return self._values.get(name, setting.default)

    @property
    def values(self) -> Mapping[str, object]:
        """The settings that differ from their default."""
        return self._values

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Limits) and self._values == other._values

    def __hash__(self) -> int:
        return hash(tuple(sorted(self._values.items())))

    def __repr__(self) -> str:
        return f"Limits({', '.join(f'{n}={v!r}' for n, v in self._values.items())})"

    def allows_model(self, model: str) -> bool:
        return self.model_re is None or self.model_re.match(model) is not None


def parse_key_limits(extra: Mapping[str, str]) -> Limits:
    """Limits from a key's allow-list cells; raises ``ValueError("column rpm: ...")`` on a bad cell."""
    cells = {c: extra[c].strip() for c, s in _settings().items() if s.key and extra.get(c, "").strip()}
    if not cells:
        return NO_LIMITS  # shared: most keys have no limits
    return Limits(**parse_settings(cells, "column "))


def parse_owner_settings(raw: object) -> dict[str, object]:
    """An owner's ``policies.owners`` entry: each name a setting owners may have, each value parsed."""
    if not isinstance(raw, Mapping):
        raise ValueError("an owner's limits are a mapping of setting: value")
    unknown = [n for n in raw if n not in _settings() or not SETTINGS[n].owner]
    if unknown:
        owners = ", ".join(n for n, s in SETTINGS.items() if s.owner)
        raise ValueError(f"unknown owner setting(s) {', '.join(map(str, unknown))}; known: {owners}")
    return parse_settings(raw, "", "owner")


def parse_settings(raw: Mapping[str, object], where: str, scope: str = "key") -> dict[str, object]:
    """Each value through its setting's parser, then the policies' rules across settings."""
    from lmgate.policies.registry import POLICIES  # the registry imports the policies, which import this module

    values = {}
    for name, value in raw.items():
        try:
            values[name] = SETTINGS[name].parse(value)
        except ValueError as e:
            raise ValueError(f"{where}{name}: {e}") from None
    for policy in POLICIES:
        policy.check_settings(values, where, scope)
    return values


def limits_from_owner(o: object) -> Limits:
    """Owner limits from the (already validated) config entry, ``config.OwnerLimits``."""
    return Limits(**getattr(o, "values", {}))


NO_LIMITS = Limits()


def _settings() -> dict[str, Setting]:
    """The registered settings; the registry is imported here, late: it imports the policies, which import Limits."""
    if not SETTINGS:
        import lmgate.policies.registry  # noqa: F401  # fills SETTINGS
    return SETTINGS
