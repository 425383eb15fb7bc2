from django import forms
from django.conf import settings
from django.core.validators import ProhibitNullCharactersValidator

from jobs.models import Job
from jobs.services import script_too_large_message
from workspaces.models import DatasetVersion

EXAMPLE_SCRIPT = """import tre_sdk

admissions = tre_sdk.load_dataset("admissions")
by_ward = admissions.groupby("ward").size().rename("admissions").reset_index()
tre_sdk.save_table("admissions_by_ward", by_ward, kind="frequency",
                   description="Admissions per ward")
tre_sdk.save_metric("mean_length_of_stay", float(admissions["length_of_stay"].mean()))
print("rows:", len(admissions))
"""


class VersionChoiceField(forms.ModelMultipleChoiceField):
    widget = forms.CheckboxSelectMultiple

    def label_from_instance(self, version):
        return f"{version.dataset.name} v{version.number} ({version.row_count:,} rows)"


class JobForm(forms.Form):
    title = forms.CharField(max_length=200, required=False)
    script = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 18, "spellcheck": "false", "class": "code"}),
        required=False,
    )
    script_file = forms.FileField(
        label="…or upload a .py file", required=False, help_text="Replaces the text above."
    )
    dataset_versions = VersionChoiceField(queryset=DatasetVersion.objects.none())
    mode = forms.ChoiceField(choices=Job.Mode.choices, widget=forms.HiddenInput, required=False)

    def __init__(self, *args, workspace, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["dataset_versions"].queryset = (
            DatasetVersion.objects.filter(
                dataset__workspace=workspace,
                dataset__erased_at=None,
                status=DatasetVersion.Status.READY,
            )
            .select_related("dataset")
            .order_by("dataset__name", "-number")
        )
        # With one dataset there is nothing to choose: its newest version comes ticked.
        ready = list(self.fields["dataset_versions"].queryset[:50])
        if ready and len({version.dataset_id for version in ready}) == 1:
            self.fields["dataset_versions"].initial = [ready[0].pk]
        # jobs.services.check_script names the line of a NUL byte; Django's own check
        # would refuse it first, without saying where.
        script = self.fields["script"]
        script.validators = [
            validator
            for validator in script.validators
            if not isinstance(validator, ProhibitNullCharactersValidator)
        ]

    def clean_script(self):
        # Browsers send a textarea's line ends as CRLF: counted against the size limit,
        # a script would grow by a byte a line between the editor and the server.
        return self.cleaned_data["script"].replace("\r\n", "\n")

    def refuse_unread(self, message: str) -> None:
        """Show `message` on the script of a form left unbound: the request was too large
        for Django to read, so there is nothing to bind it to (jobs.views.job_new)."""
        self.cleaned_data = {}
        self.add_error("script", message)

    def clean(self):
        cleaned = super().clean()
        upload = cleaned.get("script_file")
        if upload is not None:
            # jobs.uploads.ScriptUploadHandler kept none of a file over the limit.
            if getattr(upload, "too_large", False) or upload.size > settings.TRE_MAX_SCRIPT_BYTES:
                self.add_error("script_file", script_too_large_message(upload.size))
            else:
                try:
                    cleaned["script"] = upload.read().decode("utf-8")
                except UnicodeDecodeError:
                    self.add_error("script_file", "The file is not UTF-8 text.")
        if not (cleaned.get("script") or "").strip() and "script_file" not in self.errors:
            self.add_error("script", "Write a script or upload one.")
        return cleaned
