"""The admin's user pages: an address staff type for a user counts as verified.

Staff create a lab's first manager in the admin and hand over the password; that manager's first
sign-in should land in the portal, not at an e-mail check they were never told about. The staff
member vouches for the address as an invitation link does for an invited user, and the change is
audited with their name. (Addresses a user adds themselves are still verified by e-mail.)"""

from allauth.account.models import EmailAddress
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db import transaction

from tenants import audit_actions
from tenants.audit import Actor, audit_record

User = get_user_model()


def email_verified_by_staff(*, staff, user, request=None) -> None:
    """`user.email` becomes the user's verified, primary address (sign-in, resets, notices)."""
    if not user.email:
        return
    address = EmailAddress.objects.filter(user=user, email__iexact=user.email).first()
    if address is not None and address.verified and address.primary:
        return
    EmailAddress.objects.filter(user=user, primary=True).update(primary=False)
    if address is None:
        address = EmailAddress(user=user, email=user.email)
    address.verified = address.primary = True
    address.save()
    audit_record(actor=Actor.for_user(staff), action=audit_actions.USER_EMAIL_VERIFIED_BY_STAFF,
                 resource_type="user", resource_id=user.pk, request=request,
                 details={"email": user.email, "via": "admin"})


class StaffVerifiedUserAdmin(UserAdmin):
    add_fieldsets = ((None, {"classes": ["wide"],
                             "fields": ["username", "email", "usable_password", "password1",
                                        "password2"],
                             "description": "The address typed here counts as verified: the "
                                            "user signs in with it and this password, with no "
                                            "confirmation e-mail."}),)

    @transaction.atomic
    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        email_verified_by_staff(staff=request.user, user=obj, request=request)


admin.site.unregister(User)
admin.site.register(User, StaffVerifiedUserAdmin)
