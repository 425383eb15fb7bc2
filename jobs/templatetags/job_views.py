from django import template
from django.utils import timezone

from jobs import channels

register = template.Library()


@register.filter
def shown(job):
    """`{% with view=job|shown %}`: what the pages may show of a job's run (jobs.channels)."""
    return channels.job_view(job, timezone.now())
