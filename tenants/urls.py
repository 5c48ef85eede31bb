from django.urls import path

from tenants import views, views_sessions, views_tokens

app_name = "tenants"

urlpatterns = [
    path("labs/", views.lab_picker, name="lab_picker"),
    path("labs/<slug:lab_slug>/", views.lab_home, name="lab_home"),
    path("labs/<slug:lab_slug>/members/", views.member_list_view, name="members"),
    path("labs/<slug:lab_slug>/notifications/", views.notification_settings,
         name="notification_settings"),
    path("labs/<slug:lab_slug>/members/invite/", views.member_invite, name="member_invite"),
    path("labs/<slug:lab_slug>/members/<uuid:member_id>/remove/", views.member_remove,
         name="member_remove"),
    path("labs/<slug:lab_slug>/invitations/<uuid:invitation_id>/revoke/",
         views.invitation_revoke, name="invitation_revoke"),
    path("sessions/", views_sessions.session_list, name="sessions"),
    path("tokens/", views_tokens.token_list, name="api_tokens"),
    path("tokens/<uuid:token_id>/revoke/", views_tokens.token_revoke, name="api_token_revoke"),
    path("labs/<slug:lab_slug>/tokens/", views_tokens.lab_token_list, name="lab_api_tokens"),
    path("labs/<slug:lab_slug>/tokens/<uuid:token_id>/revoke/", views_tokens.lab_token_revoke,
         name="lab_api_token_revoke"),
    path("invitations/<str:token>/", views.invitation_accept, name="invitation_accept"),
]
