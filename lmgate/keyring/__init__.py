"""Key lifecycle on the allow-list file, shared by ``lmgate keys`` and the admin API (/lmgate/v1/keys).

``ring`` holds the operations, ``csvdoc`` the lossless CSV editing, ``files`` the
lock and the atomic write, ``fields`` the checks of each field, ``audit`` the log.
"""

from lmgate.keyring.audit import AuditLog, admin_actor, cli_actor
from lmgate.keyring.fields import FieldError, editable
from lmgate.keyring.ring import DEFAULT_GRACE, KeyNotFound, KeyRing, KeyRingError

__all__ = [
    "DEFAULT_GRACE",
    "AuditLog",
    "FieldError",
    "KeyNotFound",
    "KeyRing",
    "KeyRingError",
    "admin_actor",
    "cli_actor",
    "editable",
]
