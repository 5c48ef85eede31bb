import re
import uuid

REQUEST_ID_HEADER = "HTTP_X_REQUEST_ID"
ACCEPTABLE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestIdMiddleware:
    """Gives every request an id (the proxy's `X-Request-ID` when it is sane) for logs and audit."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        offered = request.META.get(REQUEST_ID_HEADER, "")
        request.request_id = offered if ACCEPTABLE_REQUEST_ID.match(offered) else uuid.uuid4().hex
        response = self.get_response(request)
        response["X-Request-ID"] = request.request_id
        return response
