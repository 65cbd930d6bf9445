"""The staff's IPR pages, under /o/<org>/recall/ (see ally.web.urls)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from ally.web.ipr import views

app_name = "ipr"
urlpatterns: list[URLPattern | URLResolver] = [
    path("sessions/<int:pk>/", views.session_recordings, name="session"),
    path("recordings/<int:pk>/", views.recording_page, name="recording"),
    path("recordings/<int:pk>/review/", views.review, name="review"),
    path("recordings/<int:pk>/media/", views.media_file, name="media"),
    path("recordings/<int:pk>/transcript.vtt", views.transcript, name="transcript"),
    path("recordings/<int:pk>/transcript/", views.attach_transcript, name="transcript_attach"),
    path("recordings/<int:pk>/delete/", views.delete_media, name="delete"),
    path("recordings/<int:pk>/marks.eaf", views.eaf, name="eaf"),
    path("marks.csv", views.marks_csv, name="marks_csv"),
]
