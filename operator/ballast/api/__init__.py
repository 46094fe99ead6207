"""The typed API of Ballast's four kinds: the single source of the CRDs in crds/."""

from ballast.api.kinds import ALL_KINDS, GROUP, VERSION, KindInfo

__all__ = ["ALL_KINDS", "GROUP", "VERSION", "KindInfo"]
