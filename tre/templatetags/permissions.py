from django import template

from tre.permissions import may as may_do

register = template.Library()


@register.simple_tag(takes_context=True)
def may(context, action, obj):
    """`{% may "manage_members" workspace as can_manage %}`: the same rule the views use."""
    return may_do(context["request"].user, action, obj)
