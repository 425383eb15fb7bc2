from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_POST

from accounts import security, tokens
from accounts.forms import ApiTokenForm
from accounts.models import ApiToken


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


@login_required
def token_list(request):
    """One's own API tokens, and the form to make one. A new token is shown in the
    answer to the POST that made it, once: it is stored nowhere to show again."""
    form = ApiTokenForm(request.POST or None)
    new_token = None
    if request.method == "POST" and form.is_valid():
        try:
            _, new_token = tokens.create_token(
                user=request.user,
                by=request.user,
                name=form.cleaned_data["name"],
                scope=form.cleaned_data["scope"],
                days=form.cleaned_data["days"],
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            form = ApiTokenForm()
    response = render(
        request,
        "accounts/tokens.html",
        {
            "form": form,
            "new_token": new_token,
            "tokens": ApiToken.objects.filter(user=request.user),
        },
        status=400 if form.errors else 200,
    )
    if new_token is not None:
        # Neither the browser nor a proxy may keep the page with the token on it.
        add_never_cache_headers(response)
    return response


@login_required
@require_POST
def token_revoke(request, token_id):
    # Someone else's token is "not found", exactly as a token that does not exist.
    token = get_object_or_404(ApiToken, pk=token_id, user=request.user)
    tokens.revoke_token(token=token, by=request.user)
    messages.success(request, f"The token {token.name} ({token.prefix}…) is revoked.")
    return redirect("accounts:tokens")
