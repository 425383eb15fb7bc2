from django.urls import path

from privacy import views

app_name = "privacy"
version = "<slug:slug>/datasets/<int:dataset_id>/v<int:number>/privacy/"
question = "<slug:slug>/questions/<int:question_id>/"
urlpatterns = [
    path(version, views.version_privacy, name="version"),
    path(version + "accuracy/", views.accuracy_preview, name="accuracy"),
    path(version + "ask/", views.ask, name="ask"),
    path(version + "budget/", views.set_budget, name="budget"),
    path(question, views.question_detail, name="question"),
    path(question + "wait/", views.question_wait, name="question_wait"),
]
