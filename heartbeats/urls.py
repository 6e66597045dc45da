from django.urls import path

from heartbeats import views

urlpatterns = [
    path("", views.board, name="board"),
]
