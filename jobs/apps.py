from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"

    def ready(self):
        from jobs import signals  # noqa: F401  (the reaper runs when a worker starts)
