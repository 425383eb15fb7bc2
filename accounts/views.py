from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from accounts import security


@login_required
def second_factor(request):
    """Where a first sign-in lands: nothing else opens until a second factor is enrolled."""
    if security.has_enrolled(request.user):
        return redirect("mfa_index")
    return render(request, "account/second_factor.html")


def locked_out(request, response=None, credentials=None):
    """django-axes' answer to a locked-out account or address: what happened, and when
    it ends (the same page whichever of the two is locked, so it tells an attacker
    nothing about which usernames exist)."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    context = {"failure_limit": settings.AXES_FAILURE_LIMIT, "cooloff_minutes": minutes}
    return render(request, "account/locked_out.html", context, status=429)
