"""The privacy pages of a dataset version: its budget and every spend, the form that asks
a question (with the accuracy shown before anything is spent), the steward's budget form,
and each answer's page."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from privacy import selectors, services
from privacy.forms import BudgetForm, QuestionForm, columns_from_post
from privacy.models import PrivacyBudget, PrivateQuestion
from tre.permissions import ASK_PRIVATE_QUESTIONS, MANAGE_DATASETS, VIEW_DATASETS, may
from workspaces.models import DatasetVersion
from workspaces.views import get_workspace_for


def _version_for(request, slug, dataset_id, number, action=VIEW_DATASETS):
    workspace = get_workspace_for(request, slug, action)
    version = get_object_or_404(
        DatasetVersion.objects.select_related("dataset"),
        dataset__workspace=workspace, dataset_id=dataset_id, number=number,
        dataset__erased_at=None,
    )  # fmt: skip
    if not may(request.user, VIEW_DATASETS, version):
        raise Http404("No such version.")
    return workspace, version


def _page(request, workspace, version, *, question_form=None, budget_form=None, status=200):
    budget = PrivacyBudget.objects.filter(version=version).first()
    can_ask = budget is not None and may(request.user, ASK_PRIVATE_QUESTIONS, workspace)
    can_manage = may(request.user, MANAGE_DATASETS, workspace)
    if can_ask and question_form is None:
        question_form = QuestionForm(columns=budget.columns)
    if can_manage and budget_form is None:
        budget_form = BudgetForm(
            initial={
                "epsilon": budget.epsilon,
                "delta": budget.delta,
                "epsilon_per_researcher": budget.epsilon_per_researcher,
                "rows_per_person": budget.rows_per_person,
            }
            if budget
            else None
        )
    declared = budget.columns if budget else {}
    return render(
        request,
        "privacy/version_privacy.html",
        {
            "workspace": workspace,
            "dataset": version.dataset,
            "version": version,
            "budget": budget,
            "standing": services.standing(budget, request.user) if budget else None,
            "questions": budget.questions.select_related("asked_by", "job") if budget else [],
            "question_form": question_form if can_ask else None,
            "budget_form": budget_form if can_manage else None,
            "column_rows": [
                {"index": index, "column": column, "rule": declared.get(column["name"], {})}
                for index, column in enumerate(version.schema)
            ],
        },
        status=status,
    )


@login_required
def version_privacy(request, slug, dataset_id, number):
    workspace, version = _version_for(request, slug, dataset_id, number)
    return _page(request, workspace, version)


@login_required
@require_GET
def accuracy_preview(request, slug, dataset_id, number):
    """What the question would get, before spending: its accuracy and the budget left."""
    _workspace, version = _version_for(request, slug, dataset_id, number, ASK_PRIVATE_QUESTIONS)
    budget = get_object_or_404(PrivacyBudget, version=version)
    form = QuestionForm(request.GET, columns=budget.columns)
    context = {"standing": services.standing(budget, request.user)}
    if form.is_valid():
        try:
            question = services.question_of(**form.question_fields())
            context["accuracy"] = services.check_question(budget, question)
            context["epsilon"] = services.as_epsilon(question.epsilon)
        except ValidationError as error:
            context["problem"] = " ".join(error.messages)
    else:
        context["problem"] = " ".join(
            f"{form.fields[name].label or name}: {' '.join(errors)}"
            for name, errors in form.errors.items()
        )
    return render(request, "privacy/includes/accuracy.html", context)


@login_required
@require_POST
def ask(request, slug, dataset_id, number):
    workspace, version = _version_for(request, slug, dataset_id, number, ASK_PRIVATE_QUESTIONS)
    budget = get_object_or_404(PrivacyBudget, version=version)
    form = QuestionForm(request.POST, columns=budget.columns)
    if form.is_valid():
        try:
            question = services.ask_question(
                version=version,
                by=request.user,
                question=services.question_of(**form.question_fields()),
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            return redirect(question.get_absolute_url())
    return _page(request, workspace, version, question_form=form, status=400)


@login_required
@require_POST
def set_budget(request, slug, dataset_id, number):
    workspace, version = _version_for(request, slug, dataset_id, number, MANAGE_DATASETS)
    form = BudgetForm(request.POST)
    if form.is_valid():
        try:
            services.set_budget(
                version=version,
                by=request.user,
                columns=columns_from_post(request.POST, version.schema),
                **form.cleaned_data,
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, f"The privacy budget of {version} is set.")
            return redirect("privacy:version", slug=slug, dataset_id=dataset_id, number=number)
    return _page(request, workspace, version, budget_form=form, status=400)


def _question_for(request, slug, question_id):
    workspace = get_workspace_for(request, slug, VIEW_DATASETS)
    question = get_object_or_404(
        PrivateQuestion.objects.select_related("budget__version__dataset", "asked_by"),
        pk=question_id, workspace=workspace,
    )  # fmt: skip
    return workspace, question


def _question_context(workspace, question):
    return {
        "workspace": workspace,
        "question": question,
        "version": question.budget.version,
        "dataset": question.budget.version.dataset,
    }


@login_required
def question_detail(request, slug, question_id):
    workspace, question = _question_for(request, slug, question_id)
    return render(request, "privacy/question_detail.html", _question_context(workspace, question))


@login_required
def question_wait(request, slug, question_id):
    """The answer part of the page, once the question is answered or refunded, or after
    WAIT_SECONDS: a long-poll, as the job page's (jobs/live.py)."""
    _, question = _question_for(request, slug, question_id)
    selectors.wait_for_answer(question)
    # Again: the rights may have gone while it waited.
    workspace, question = _question_for(request, slug, question_id)
    return render(
        request, "privacy/includes/question_live.html", _question_context(workspace, question)
    )
