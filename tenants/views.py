from allauth.account.adapter import get_adapter
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from tenants import audit_actions, services
from tenants.access import access_invitation, access_member, lab_view
from tenants.adapters import INVITATION_SESSION_KEY
from tenants.audit import Actor, audit_record
from tenants.forms import InvitationForm
from tenants.home import home_sections
from tenants.selectors import (
    invitation_by_token,
    member_list,
    membership_list_for_user,
    pending_invitation_list,
)


@login_required
@require_GET
def lab_picker(request):
    memberships = list(membership_list_for_user(request.user))
    if len(memberships) == 1 and "all" not in request.GET:
        return redirect("tenants:lab_home", lab_slug=memberships[0].lab.slug)
    return render(request, "tenants/lab_picker.html", {"memberships": memberships})


@lab_view()
@require_GET
def lab_home(request):
    lists = home_sections(request.membership)
    audit_record(actor=Actor.for_user(request.user), action=audit_actions.LAB_HOME_VIEWED,
                 lab=request.lab, resource_type="lab", resource_id=request.lab.pk,
                 phi_accessed=True, request=request,
                 details={key: len(rows) for key, rows in lists.items() if isinstance(rows, list)})
    return render(request, "tenants/lab_home.html", {
        **lists,
        "member_count": request.lab.memberships.count(),
        "sample_count": request.lab.samples.count(),
        "other_lab_count": membership_list_for_user(request.user).exclude(
            lab=request.lab).count(),
    })


@lab_view()
@require_GET
def member_list_view(request):
    return render(request, "tenants/members.html", _members_context(request, InvitationForm()))


def _members_context(request, form):
    context = {"members": member_list(request.lab), "form": form}
    if request.membership.is_manager:
        context["invitations"] = pending_invitation_list(request.lab)
    return context


@lab_view(manager_only=True)
@require_http_methods(["GET", "POST"])
def member_invite(request):
    if request.method == "GET":  # e.g. reloading the page after a failed invitation
        return redirect("tenants:members", lab_slug=request.lab.slug)
    form = InvitationForm(request.POST)
    if form.is_valid():
        email = form.cleaned_data["email"].strip().lower()
        resent = pending_invitation_list(request.lab).filter(email__iexact=email).exists()
        try:
            invitation, _token = services.invitation_create(
                membership=request.membership, email=email,
                role=form.cleaned_data["role"], request=request)
        except ValidationError as exc:
            form.add_error("email", exc)
        else:
            note = " The link sent earlier no longer works." if resent else ""
            messages.success(request, f"Invitation sent to {invitation.email}.{note}")
            return redirect("tenants:members", lab_slug=request.lab.slug)
    return render(request, "tenants/members.html", _members_context(request, form), status=400)


@lab_view(manager_only=True)
@require_POST
def member_remove(request, member_id):
    target = access_member(request.membership, member_id)
    try:
        services.membership_remove(membership=request.membership, target=target, request=request)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("tenants:members", lab_slug=request.lab.slug)
    messages.success(request, f"{target.user.email} was removed from {request.lab.name}.")
    if target.pk == request.membership.pk:
        return redirect("tenants:lab_picker")
    return redirect("tenants:members", lab_slug=request.lab.slug)


@lab_view(manager_only=True)
@require_POST
def invitation_revoke(request, invitation_id):
    invitation = access_invitation(request.membership, invitation_id)
    try:
        services.invitation_revoke(membership=request.membership, invitation=invitation,
                                   request=request)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"The invitation for {invitation.email} was revoked.")
    return redirect("tenants:members", lab_slug=request.lab.slug)


@require_http_methods(["GET", "POST"])
def invitation_accept(request, token):
    """The link in an invitation email. Signed in as the invited address: join. Not signed in:
    sign in (existing account) or sign up (new account, email verified by this link)."""
    invitation = invitation_by_token(token)
    if invitation is None or not invitation.is_pending():
        return render(request, "tenants/invitation_invalid.html", status=404)

    if not request.user.is_authenticated:
        if services.user_for_email(invitation.email) is not None:
            login_url = reverse("account_login")
            messages.info(request, f"Sign in as {invitation.email} to accept the invitation.")
            return redirect(f"{login_url}?next={request.path}")
        request.session[INVITATION_SESSION_KEY] = token
        # The person reached this page through the email we sent, which verifies the address.
        get_adapter(request).stash_verified_email(request, invitation.email)
        return redirect(f"{reverse('account_signup')}?email={invitation.email}")

    context = {"invitation": invitation}
    if request.method == "POST":
        try:
            services.invitation_accept(invitation=invitation, user=request.user, request=request)
        except (ValidationError, PermissionDenied) as exc:
            context["error"] = " ".join(getattr(exc, "messages", [str(exc)]))
            return render(request, "tenants/invitation_accept.html", context, status=400)
        messages.success(request, f"You joined {invitation.lab.name}.")
        return redirect("tenants:lab_home", lab_slug=invitation.lab.slug)
    if request.user.email.lower() != invitation.email.lower():
        context["error"] = (f"This invitation is for {invitation.email}, but you are logged in as "
                            f"{request.user.email}. Log out and log in with the invited address.")
    return render(request, "tenants/invitation_accept.html", context)


@lab_view()
@require_http_methods(["GET", "POST"])
def notification_settings(request):
    """Each member turns their own email notifications on or off, per lab."""
    if request.method == "POST":
        services.membership_notifications_set(membership=request.membership,
                                              enabled=request.POST.get("email_notifications") == "on",
                                              request=request)
        messages.success(request, "Your notification settings were saved.")
        return redirect("tenants:notification_settings", lab_slug=request.lab.slug)
    return render(request, "tenants/notification_settings.html")
