from django.contrib.auth.forms import AuthenticationForm


class SignInForm(AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        # Same message for an unknown user and a wrong password: no account probing.
        "invalid_login": "That username and password do not match an active account.",
    }
