import pytest

from privacy import services


@pytest.fixture
def queued_questions(monkeypatch):
    """Questions' ids as they would be sent to a worker: these tests answer them here
    (the services' own path), so no task is sent."""
    sent = []
    monkeypatch.setattr(services, "queue_question", sent.append)
    return sent


@pytest.fixture
def budget(privacy_budget):
    return privacy_budget


def count_by_ward(epsilon=0.1):
    return services.question_of(statistic="count", epsilon=epsilon, by=["ward"])
