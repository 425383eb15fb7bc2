"""Celery entry points for private questions: ids in, counts out, never an answer."""

from celery import shared_task

from privacy import services


@shared_task(name="privacy.tasks.answer_question_task")
def answer_question_task(question_id: int) -> dict:
    question = services.answer_question(question_id=question_id)
    return {"question": question_id, "status": question.status if question else "skipped"}


@shared_task(name="privacy.tasks.requeue_unanswered_task")
def requeue_unanswered_task() -> dict:
    return {"requeued": services.requeue_unanswered()}
