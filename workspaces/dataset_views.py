"""Dataset pages: upload, identifier decisions, schema, the synthetic sample, erasure.

No page here ever shows a real value: stewards see schemas, counts and the scan's
reasons; everyone sees synthetic rows only.
"""

import math

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST

from tre.permissions import MANAGE_DATASETS, VIEW_DATASETS, may
from workspaces import downloads, identifiers, selectors, services
from workspaces.forms import (
    DatasetSettingsForm,
    DatasetUploadForm,
    EraseForm,
    VersionUploadForm,
)
from workspaces.models import Dataset, DatasetVersion, SyntheticSample
from workspaces.services.datasets import Upload, suggested_decisions
from workspaces.uploads import EncryptingUploadHandler
from workspaces.views import get_workspace_for

PAGE_SIZE = 50


def _dataset_for(request, slug, dataset_id, action=VIEW_DATASETS):
    """The workspace and dataset; 404 for non-members, 403 for members without the right."""
    workspace = get_workspace_for(request, slug, action)
    dataset = get_object_or_404(Dataset, pk=dataset_id, workspace=workspace, erased_at=None)
    return workspace, dataset


def _version_for(request, slug, dataset_id, number, action=VIEW_DATASETS):
    workspace, dataset = _dataset_for(request, slug, dataset_id, action)
    version = get_object_or_404(DatasetVersion, dataset=dataset, number=number)
    if not may(request.user, VIEW_DATASETS, version):
        raise Http404("No such version.")  # until decided, as if it did not exist
    return workspace, dataset, version


def _receive_dataset_file(request, form_class, template, context, ingest):
    """The upload pages' one flow: encrypting handler, CSRF check, form, ingest.

    Django's CSRF check reads the request body, and with it any uploaded file, so the
    encrypting handler must be in place first: the routed views are CSRF-exempt and
    protect this inner step instead (the pattern Django's docs give). They check the
    user's rights before calling this, so nobody without them gets to send a file.
    `ingest(upload, cleaned_data)` calls the service and returns the new version.
    """
    request.upload_handlers = [EncryptingUploadHandler(request)]

    @csrf_protect
    def receive(request):
        form = form_class(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                version = ingest(
                    Upload(open_binary=upload.open_plaintext, size_bytes=upload.size),
                    form.cleaned_data,
                )
            except ValidationError as error:
                _add_errors(form, error)
            else:
                messages.success(request, f"{version} uploaded: review the flagged columns.")
                return redirect(version.get_absolute_url())
            finally:
                upload.close()
        return render(
            request, template, {**context, "form": form}, status=400 if form.errors else 200
        )

    return receive(request)


def _add_errors(form, error: ValidationError) -> None:
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error("file", error.messages)


@csrf_exempt
@login_required
def dataset_new(request, slug):
    workspace = get_workspace_for(request, slug, MANAGE_DATASETS)

    def ingest(upload, data):
        return services.ingest_dataset(
            workspace=workspace,
            upload=upload,
            by=request.user,
            name=data["name"],
            description=data["description"],
            classification=data["classification"],
            encoding=data["encoding"],
        )

    return _receive_dataset_file(
        request, DatasetUploadForm, "workspaces/dataset_new.html", {"workspace": workspace}, ingest
    )


@login_required
def dataset_detail(request, slug, dataset_id):
    workspace, dataset = _dataset_for(request, slug, dataset_id)
    can_manage = may(request.user, MANAGE_DATASETS, workspace)
    versions = dataset.versions.select_related("synthetic_sample", "created_by")
    if not can_manage:
        versions = versions.filter(status=DatasetVersion.Status.READY)
    return render(
        request,
        "workspaces/dataset_detail.html",
        {
            "workspace": workspace,
            "dataset": dataset,
            "versions": versions,
            "current": dataset.current_version(),
            "can_manage": can_manage,
            "version_form": VersionUploadForm(),
            "settings_form": DatasetSettingsForm(
                initial={
                    "classification": dataset.classification,
                    "description": dataset.description,
                }
            ),
            "erase_form": EraseForm(),
        },
    )


@csrf_exempt
@login_required
def version_new(request, slug, dataset_id):
    workspace, dataset = _dataset_for(request, slug, dataset_id, MANAGE_DATASETS)

    def ingest(upload, data):
        return services.ingest_dataset(
            workspace=workspace,
            dataset=dataset,
            upload=upload,
            by=request.user,
            encoding=data["encoding"],
        )

    return _receive_dataset_file(
        request,
        VersionUploadForm,
        "workspaces/version_new.html",
        {"workspace": workspace, "dataset": dataset},
        ingest,
    )


@login_required
@require_POST
def dataset_settings(request, slug, dataset_id):
    _, dataset = _dataset_for(request, slug, dataset_id, MANAGE_DATASETS)
    form = DatasetSettingsForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a classification.")
        return redirect(dataset.get_absolute_url())
    try:
        services.update_dataset(dataset=dataset, by=request.user, **form.cleaned_data)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, "Saved.")
    return redirect(dataset.get_absolute_url())


@login_required
@require_POST
def dataset_erase(request, slug, dataset_id):
    workspace, dataset = _dataset_for(request, slug, dataset_id, MANAGE_DATASETS)
    form = EraseForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give a reason and confirm to erase.")
        return redirect(dataset.get_absolute_url())
    services.erase_dataset(dataset=dataset, by=request.user, reason=form.cleaned_data["reason"])
    messages.success(request, f"{dataset.name} was erased: its keys and files are destroyed.")
    return redirect(workspace.get_absolute_url())


def _decision_rows(version):
    """One row per column for the decisions form: kind, finding, choices, suggestion."""
    findings = {finding["column"]: finding for finding in version.findings}
    suggestions = suggested_decisions(version)
    rows = []
    for index, column in enumerate(version.staged_schema):
        finding = findings.get(column["name"])
        kind = identifiers.IdentifierKind(finding["kind"]) if finding else None
        rows.append(
            {
                "index": index,
                "column": column,
                "finding": finding,
                "generalisations": identifiers.allowed_generalisations(column["kind"], kind),
                "suggested": suggestions[column["name"]],
            }
        )
    return rows


@login_required
def version_detail(request, slug, dataset_id, number):
    workspace, dataset, version = _version_for(request, slug, dataset_id, number)
    can_manage = may(request.user, MANAGE_DATASETS, workspace)
    sample = SyntheticSample.objects.filter(version=version).first()
    return render(
        request,
        "workspaces/version_detail.html",
        {
            "workspace": workspace,
            "dataset": dataset,
            "version": version,
            "sample": sample,
            "can_manage": can_manage,
            "decision_rows": _decision_rows(version)
            if can_manage and version.status == DatasetVersion.Status.AWAITING_DECISIONS
            else [],
            "actions": [action.value for action in identifiers.Action],
            "erase_form": EraseForm(),
        },
    )


@login_required
@require_POST
def version_decide(request, slug, dataset_id, number):
    _, _, version = _version_for(request, slug, dataset_id, number, MANAGE_DATASETS)
    decisions = {}
    for index, column in enumerate(version.staged_schema):
        action = request.POST.get(f"action-{index}", "keep")
        # The "to ..." menu is always submitted; it means something only with generalise.
        target = request.POST.get(f"generalise-{index}") if action == "generalise" else None
        decisions[column["name"]] = {"action": action, "generalise_to": target or None}
    try:
        version = services.decide_columns(version=version, decisions=decisions, by=request.user)
    except ValidationError as error:
        # Every choice a person can get wrong is a ValidationError naming its column;
        # anything else is a fault, and no advice to choose again would mend it.
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"{version} is ready; its synthetic sample is being built.")
    return redirect(version.get_absolute_url())


@login_required
@require_POST
def version_erase(request, slug, dataset_id, number):
    _, dataset, version = _version_for(request, slug, dataset_id, number, MANAGE_DATASETS)
    form = EraseForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give a reason and confirm to erase.")
        return redirect(version.get_absolute_url())
    services.erase_version(version=version, by=request.user, reason=form.cleaned_data["reason"])
    messages.success(request, f"{version} was erased: its keys and files are destroyed.")
    return redirect(dataset.get_absolute_url())


@login_required
@require_POST
def sample_rebuild(request, slug, dataset_id, number):
    _, _, version = _version_for(request, slug, dataset_id, number, MANAGE_DATASETS)
    sample = get_object_or_404(SyntheticSample, version=version)
    try:
        services.rebuild_synthetic_sample(sample=sample, by=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, "The synthetic sample is queued to be built again.")
    return redirect(version.get_absolute_url())


@login_required
def sample_status(request, slug, dataset_id, number):
    """The sample's progress, as a fragment htmx polls while it is being built."""
    workspace, dataset, version = _version_for(request, slug, dataset_id, number)
    sample = get_object_or_404(SyntheticSample, version=version)
    return render(
        request,
        "workspaces/includes/sample_status.html",
        {"workspace": workspace, "dataset": dataset, "version": version, "sample": sample},
    )


def _ready_sample(request, slug, dataset_id, number):
    workspace, dataset, version = _version_for(request, slug, dataset_id, number)
    sample = get_object_or_404(
        SyntheticSample, version=version, status=SyntheticSample.Status.READY
    )
    return workspace, dataset, version, sample


@login_required
def sample_browse(request, slug, dataset_id, number):
    workspace, dataset, version, sample = _ready_sample(request, slug, dataset_id, number)
    frame = selectors.synthetic_frame(sample)
    columns = list(frame.columns)
    sort = request.GET.get("sort", "")
    descending = request.GET.get("dir") == "desc"
    if sort in columns:
        frame = frame.sort_values(sort, ascending=not descending, na_position="last", kind="stable")
    pages = max(1, math.ceil(len(frame) / PAGE_SIZE))
    try:
        page = min(max(1, int(request.GET.get("page", 1))), pages)
    except ValueError:
        page = 1
    shown = frame.iloc[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    rows = [
        ["" if _is_missing(value) else value for value in row]
        for row in shown.itertuples(index=False, name=None)
    ]
    return render(
        request,
        "workspaces/sample_browse.html",
        {
            "workspace": workspace,
            "dataset": dataset,
            "version": version,
            "sample": sample,
            "columns": columns,
            "rows": rows,
            "sort": sort,
            "descending": descending,
            "page": page,
            "pages": pages,
            "first_row": (page - 1) * PAGE_SIZE + 1,
            "summaries": selectors.summary_cards(sample),
        },
    )


def _is_missing(value) -> bool:
    try:
        return value is None or bool(value != value)  # NaN, NaT and pd.NA
    except TypeError:
        return True


@login_required
def sample_download(request, slug, dataset_id, number):
    _, _, _, sample = _ready_sample(request, slug, dataset_id, number)
    return downloads.synthetic_sample_response(sample=sample, by=request.user)
