"""A location's secret_env at rest: sealed with the payload keys in the database, masked in every API answer.

The control plane keeps a location's spec to start its workflows and runs; the values of `secret_env` are
stored sealed (AES-GCM, bound to location and variable name), opened only to hand the spec to Temporal
(whose payloads are encrypted too), and shown as '***'. A spec sent back with '***' keeps the stored value.
"""

from __future__ import annotations

from typing import Any

from contracts.locations import SECRET_MASK, LocationSpec
from controlplane.errors import Invalid
from runtime.codec import KeyRing, open_text, seal_text


class SecretEnvSealer:
    """Seals, opens and masks the secret_env of specs with this control plane's payload keys."""

    def __init__(self, keys: KeyRing | None) -> None:
        self._keys = keys

    def seal(self, spec: LocationSpec) -> dict[str, Any]:
        """The spec as stored: JSON with every secret_env value sealed."""
        stored = spec.model_dump(mode="json")
        if spec.secret_env:
            keys = self._require_keys()
            stored["secret_env"] = {
                key: seal_text(keys, value, f"{spec.name}/{key}") for key, value in spec.secret_env.items()
            }
        return stored

    def open(self, stored: dict[str, Any]) -> LocationSpec:
        """The stored spec with its secret_env readable (for Temporal only)."""
        spec = LocationSpec.model_validate(stored)
        if not spec.secret_env:
            return spec
        keys = self._require_keys()
        plain = {key: open_text(keys, value, f"{spec.name}/{key}") for key, value in spec.secret_env.items()}
        return spec.model_copy(update={"secret_env": plain})

    @staticmethod
    def mask(stored: dict[str, Any]) -> LocationSpec:
        """The stored spec as the API shows it: every secret_env value is '***'."""
        spec = LocationSpec.model_validate(stored)
        return spec.model_copy(update={"secret_env": dict.fromkeys(spec.secret_env, SECRET_MASK)})

    @staticmethod
    def keep_masked(new: LocationSpec, current: LocationSpec | None) -> LocationSpec:
        """`new` with each '***' secret value replaced by the current one (a spec read back from the API)."""
        masked = [key for key, value in new.secret_env.items() if value == SECRET_MASK]
        if not masked:
            return new
        missing = [key for key in masked if current is None or key not in current.secret_env]
        if missing:
            raise Invalid(f"secret_env {', '.join(missing)}: '{SECRET_MASK}' keeps a stored value, and none is stored")
        assert current is not None
        kept = {
            key: current.secret_env[key] if value == SECRET_MASK else value for key, value in new.secret_env.items()
        }
        return new.model_copy(update={"secret_env": kept})

    def _require_keys(self) -> KeyRing:
        if self._keys is None:
            raise Invalid(
                "secret_env needs the control plane's payload encryption keys (LONGSHOREMAN_ENCRYPTION_KEYS or "
                "LONGSHOREMAN_ENCRYPTION_KEY_FILE); it runs with plaintext payloads"
            )
        return self._keys
