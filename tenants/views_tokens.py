"""Personal access tokens on the pages: a member's own (create, list, revoke: "API tokens" in the
header) and a lab's, for its managers (list, revoke). The secret is shown once, on the answer
to the creating POST, and never again (docs/api.md, "Tokens")."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from tenants import api_tokens
from tenants.access import lab_view
from tenants.forms import ApiTokenForm
from tenants.selectors import membership_list_for_user


def _rows(tokens):
    now = timezone.now()
    return [(token, token.state(now)) for token in tokens]


@login_required
@require_http_methods(["GET", "POST"])
def token_list(request):
    memberships = list(membership_list_for_user(request.user))
    form = ApiTokenForm(request.POST or None, memberships=memberships)
    created = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            membership = next(m for m in memberships if m.lab.slug == form.cleaned_data["lab"])
            try:
                row, text = api_tokens.token_create(
                    membership=membership, name=form.cleaned_data["name"],
                    days=form.cleaned_data["days"], scope=form.cleaned_data["scope"],
                    request=request)
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
                status = 400
            else:
                created = {"token": row, "text": text}
                form = ApiTokenForm(memberships=memberships)
        else:
            status = 400
    return render(request, "tenants/api_tokens.html", {
        "form": form, "created": created, "has_labs": bool(memberships),
        "rows": _rows(api_tokens.token_list_for_user(request.user)),
        "max_days": api_tokens.MAX_DAYS}, status=status)


@login_required
@require_POST
def token_revoke(request, token_id):
    token = api_tokens.access_own_token(request.user, token_id)
    if token is None:
        raise Http404("No such token")
    _revoke(request, token)
    return redirect("tenants:api_tokens")


@lab_view(manager_only=True)
@require_GET
def lab_token_list(request):
    return render(request, "tenants/lab_api_tokens.html",
                  {"rows": _rows(api_tokens.token_list_for_lab(request.lab))})


@lab_view(manager_only=True)
@require_POST
def lab_token_revoke(request, token_id):
    token = api_tokens.access_lab_token(request.membership, token_id)
    if token is None:
        raise Http404("No such token")
    _revoke(request, token)
    return redirect("tenants:lab_api_tokens", lab_slug=request.lab.slug)


def _revoke(request, token) -> None:
    try:
        api_tokens.token_revoke(user=request.user, token=token, request=request)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"The token “{token.name}” (wes_{token.prefix}…) was revoked; "
                                  "it stops working at once.")
