"""Questions answered with differential privacy: a dataset version's budget, the accuracy
a question would get (nothing spent), asking one (its ε spent), and its answer.

As the portal's privacy pages (privacy.views) do: every figure comes from
`privacy.services` (`standing`, `question_of`, `check_question`, `ask_question`), and every
right from `tre.permissions`: budgets, spends and answers are for whoever sees the
workspace's datasets (researchers and output checkers), the accuracy preview and asking
for its researchers. The preview is a GET (its question in the query string): it spends
nothing, so a read token may ask for it, as the scope rule by method already says.
"""

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from ninja import Query, Router, Status

from api import payloads
from api.access import version_for, workspace_for
from api.auth import ApiError
from api.schemas import AccuracyPreviewOut, Error, PrivacyBudgetOut, QuestionIn, QuestionOut
from privacy import selectors as privacy_selectors
from privacy import services
from privacy.models import PrivacyBudget, PrivateQuestion
from tre.permissions import ASK_PRIVATE_QUESTIONS, VIEW_DATASETS
from workspaces.models import DatasetVersion

router = Router(tags=["privacy"])

PRIVACY = "/workspaces/{slug}/datasets/{name}/privacy"
QUESTION = "/workspaces/{slug}/questions/{int:question_id}"


def _budget(version: DatasetVersion) -> PrivacyBudget:
    """The version's budget, or a 404 saying that a data steward sets one."""
    try:
        return services.budget_for(version)
    except ValidationError as error:
        raise ApiError(404, " ".join(error.messages)) from None


def _question(asked: QuestionIn):
    return services.question_of(
        statistic=asked.statistic,
        epsilon=asked.epsilon,
        column=asked.column,
        by=asked.by,
        quantile=asked.quantile,
    )


@router.get(PRIVACY, response={200: PrivacyBudgetOut, 404: Error}, url_name="privacy")
def privacy_budget(request, slug: str, name: str, version: int | None = None):
    """A version's privacy budget (the newest ready version's without `version`): what
    is spent and left, what is left for you, the declared columns and every spend."""
    user = request.auth.user
    workspace = workspace_for(user, slug, VIEW_DATASETS)
    budget = _budget(version_for(user, workspace, name, version))
    return payloads.privacy_budget_payload(budget, user)


@router.get(
    PRIVACY + "/accuracy",
    response={200: AccuracyPreviewOut, 400: Error, 403: Error, 404: Error},
    url_name="privacy_accuracy",
)
def privacy_accuracy(request, slug: str, name: str, asked: Query[QuestionIn]):
    """The accuracy a question would get, and the ε left for you, before anything is
    spent (nothing is). `by` is repeated for two groups: `?by=ward&by=sex`."""
    user = request.auth.user
    workspace = workspace_for(user, slug, ASK_PRIVATE_QUESTIONS)
    budget = _budget(version_for(user, workspace, name, asked.version))
    question = _question(asked)
    accuracy = services.check_question(budget, question)
    epsilon = services.as_epsilon(question.epsilon)
    left_for_you = services.standing(budget, user).left_for_you
    return {
        "accuracy": {
            "alpha": accuracy.alpha,
            "half_width": accuracy.half_width,
            "statement": accuracy.statement,
            "mechanism": accuracy.mechanism,
        },
        "epsilon": payloads.decimal_text(epsilon),
        "left_for_you": payloads.decimal_text(left_for_you),
        "would_overspend": epsilon > left_for_you,
    }


@router.post(
    PRIVACY + "/questions",
    response={201: QuestionOut, 400: Error, 403: Error, 404: Error},
    url_name="question_new",
)
def question_new(request, slug: str, name: str, body: QuestionIn):
    """Ask a question of the real data: its ε is spent now, and a worker answers it
    (follow it at /questions/{id}/wait). One that would pass the budget is a 400, and
    nothing is spent."""
    user = request.auth.user
    workspace = workspace_for(user, slug, ASK_PRIVATE_QUESTIONS)
    version = version_for(user, workspace, name, body.version)
    _budget(version)  # a 404 like the others' when there is none
    question = services.ask_question(version=version, by=user, question=_question(body))
    return Status(201, payloads.question_payload(question))


def _question_for(user, slug: str, question_id: int) -> PrivateQuestion:
    workspace = workspace_for(user, slug, VIEW_DATASETS)
    return get_object_or_404(
        PrivateQuestion.objects.select_related("budget__version__dataset", "asked_by"),
        pk=question_id,
        workspace=workspace,
    )


@router.get(QUESTION, response=QuestionOut, url_name="question")
def question(request, slug: str, question_id: int):
    """A question: its answer once answered, released by differential privacy."""
    return payloads.question_payload(_question_for(request.auth.user, slug, question_id))


@router.get(QUESTION + "/wait", response=QuestionOut, url_name="question_wait")
def question_wait(request, slug: str, question_id: int):
    """The question, answered once it is answered or refunded, or after 20 s as it is:
    the answer page's long-poll."""
    token = request.auth
    privacy_selectors.wait_for_answer(_question_for(token.user, slug, question_id))
    # Again: the token or the rights may have gone while it waited.
    token.refresh_from_db(fields=["revoked_at", "expires_at"])
    if not token.is_live:
        raise ApiError(401, "This API token was revoked or expired while the request waited.")
    token.user.refresh_from_db()
    return payloads.question_payload(_question_for(token.user, slug, question_id))
