"""Development-only defaults, shared by the settings and the dev launcher (which must not import
the settings). With DJANGO_DEBUG off the portal refuses to start on any of them."""

DEV_SECRET_KEY = "dev-only-insecure-secret-key-never-use-in-production"
DEV_STORAGE_ACCESS_KEY = "wes-dev-access"
DEV_STORAGE_SECRET_KEY = "wes-dev-secret-change-me"
# The audit chain's HMAC key (id:secret) for development; tests set their own (pyproject.toml).
DEV_AUDIT_KEY_SECRET = "dev-only-audit-chain-key-never-use-in-production"
DEV_AUDIT_KEYS = f"dev:{DEV_AUDIT_KEY_SECRET}"
