"""The signed-in user's sessions (device, address, started, last seen), and ending the others:
allauth.usersessions' page, told the portal's session limits and answering at its own URL."""

from allauth.usersessions.models import UserSession
from allauth.usersessions.views import ListUserSessionsView
from django.conf import settings
from django.urls import reverse_lazy


class SessionListView(ListUserSessionsView):
    success_url = reverse_lazy("tenants:sessions")

    def get_context_data(self, **kwargs):
        # A session signed in other than through allauth's form (or before this page existed)
        # gets its row on its first minute of activity; this page lists it at once.
        session_key = self.request.session.session_key
        if not UserSession.objects.filter(session_key=session_key).exists():
            UserSession.objects.create_from_request(self.request)
        context = super().get_context_data(**kwargs)
        context.update(show_last_seen_at=True, action_url=self.success_url,
                       idle_minutes=settings.SESSION_IDLE_SECONDS // 60,
                       max_hours=round(settings.SESSION_MAX_SECONDS / 3600, 1))
        return context


session_list = SessionListView.as_view()
