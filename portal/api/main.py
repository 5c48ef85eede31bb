"""The versioned JSON API, `/api/v1/` (docs/api.md): django-ninja, token authentication, one
error shape. The schema (`/api/v1/openapi.json`) and its page (`/api/v1/docs`) need no token."""

from ninja import NinjaAPI

from portal.api import errors, jobs, samples
from portal.api.auth import TokenAuth

api = NinjaAPI(
    title="WES Portal API", version="1", urls_namespace="api-v1", auth=TokenAuth(),
    description="Samples, direct uploads, jobs and audited downloads of one lab, with a "
                "personal access token (docs/api.md).",
)
errors.install(api)
api.add_router("", samples.router)
api.add_router("", jobs.router)
