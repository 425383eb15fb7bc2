from django.apps import AppConfig


class TreConfig(AppConfig):
    name = "tre"
    verbose_name = "Trusted Research Environment"

    def ready(self):
        from tre import signals  # noqa: F401  (connects the audit receivers)
