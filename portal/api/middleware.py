"""What every API answer gets: `Cache-Control: no-store` (answers hold patient data, whoever
asks), and an audit event naming the token for each call that no other event records
(`api.called`), so every use of a token is in the audit log."""

from django.utils.cache import add_never_cache_headers

from tenants import audit_actions
from tenants.audit import Actor, audit_record

API_PREFIX = "/api/"


class ApiMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path_info.startswith(API_PREFIX):
            return self.get_response(request)
        response = self.get_response(request)
        add_never_cache_headers(response)
        token = getattr(request, "api_token", None)
        recorded = response.status_code < 400 and getattr(request, "api_audited", False)
        if token is not None and response.status_code != 429 and not recorded:
            membership = token.membership
            audit_record(actor=Actor.for_user(membership.user), action=audit_actions.API_CALLED,
                         lab=membership.lab, resource_type="api", request=request,
                         details={"method": request.method, "status": response.status_code,
                                  "path": request.path_info.replace("\x00", "")[:300]})
        return response
