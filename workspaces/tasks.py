from celery import shared_task

from workspaces import services
from workspaces.models import SyntheticSample


@shared_task(acks_late=True)
def build_synthetic_sample_task(sample_id: int) -> dict:
    """Ids in, status out: never a value from the data."""
    sample = SyntheticSample.objects.filter(pk=sample_id).first()
    if sample is None:
        return {"sample": sample_id, "status": "gone"}
    sample = services.build_synthetic_sample(sample=sample)
    return {"sample": sample.pk, "status": sample.status}
