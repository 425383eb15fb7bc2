from decimal import Decimal

from django import template

register = template.Library()


@register.filter
def epsilon(value) -> str:
    """An ε or δ as people write it: 0.5, 10, 0.000001 (not 0.500000 or 1E+1)."""
    if value is None or value == "":
        return ""
    return f"{Decimal(str(value)).normalize():f}"
